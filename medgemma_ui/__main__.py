"""`python -m medgemma_ui serve | prepare | analyze | feedback ...`"""

from __future__ import annotations

import argparse
import importlib
import sys

# Each name is a module in medgemma_ui.cli with register(subparsers); imported lazily so that
# `prepare` never pays for importing gradio.
SUBCOMMANDS = ("serve", "prepare", "analyze", "feedback", "hash-password")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m medgemma_ui", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"medgemma_ui.cli.{name.replace('-', '_')}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
