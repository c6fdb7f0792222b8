"""`python -m medgemma_ui feedback export|stats`: read the clinician feedback store.

Reads the database at MEDGEMMA_FEEDBACK_DB (or --db). Exports never include image bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "feedback", help="export or summarise feedback", description=__doc__
    )
    actions = parser.add_subparsers(dest="action", required=True)

    export = actions.add_parser("export", help="write every rating as CSV or JSON Lines")
    export.add_argument("--format", choices=("csv", "jsonl"), default="csv", dest="fmt")
    export.add_argument("--out", type=Path, help="output file (default: standard output)")
    _common(export)
    export.set_defaults(func=run)

    stats = actions.add_parser("stats", help="print counts and agreement rates as JSON")
    _common(stats)
    stats.set_defaults(func=run)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, help="database file (default: MEDGEMMA_FEEDBACK_DB)")
    parser.add_argument("--session", help="only this session label")


def run(args: argparse.Namespace) -> int:
    from medgemma_ui.feedback import FeedbackStore
    from medgemma_ui.settings import Settings

    db = args.db if args.db is not None else Settings.from_env().feedback.db_path
    if not db.exists():
        print(
            f"No feedback database at {db}; set MEDGEMMA_FEEDBACK_DB or pass --db.", file=sys.stderr
        )
        return 2
    with FeedbackStore(db) as store:
        if args.action == "stats":
            print(json.dumps(store.stats(session_label=args.session), indent=2, ensure_ascii=False))
            return 0
        if args.out is None:
            n = store.export(args.fmt, sys.stdout, session_label=args.session)
        else:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            tmp = args.out.with_name(args.out.name + ".partial")
            with tmp.open("w", encoding="utf-8", newline="") as out:
                n = store.export(args.fmt, out, session_label=args.session)
            tmp.replace(args.out)  # never leave a half-written export under the real name
    print(f"Exported {n} ratings" + (f" to {args.out}" if args.out else ""), file=sys.stderr)
    return 0
