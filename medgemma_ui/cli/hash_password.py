"""`python -m medgemma_ui hash-password [USER]`: print a MEDGEMMA_AUTH_USERS entry.

The password is read without echo (or from stdin when piped); only its salted hash is printed.
"""

from __future__ import annotations

import argparse
import getpass
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "hash-password", help="print a hashed login for MEDGEMMA_AUTH_USERS", description=__doc__
    )
    parser.add_argument("user", nargs="?", default="clinician")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from medgemma_ui.passwords import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Again: "):
            print("The two passwords differ.", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        print("Use at least 8 characters.", file=sys.stderr)
        return 2
    print(f"{args.user}:{hash_password(password)}")
    return 0
