"""`python -m medgemma_ui feedback export|stats|import`: read, summarise or merge the clinician
feedback store.

The store is MEDGEMMA_FEEDBACK_DB (or --db): a SQLite file, or a postgresql:// URL. Exports never
include image bytes and are written with mode 0600.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "feedback", help="export, summarise or import feedback", description=__doc__
    )
    actions = parser.add_subparsers(dest="action", required=True)

    export = actions.add_parser("export", help="write every rating as CSV or JSON Lines")
    export.add_argument("--format", choices=("csv", "jsonl"), default="csv", dest="fmt")
    export.add_argument("--out", type=Path, help="output file (default: standard output)")
    _common(export)
    export.set_defaults(func=run)

    stats = actions.add_parser(
        "stats",
        help="print counts and the agreement dashboard's figures as JSON",
        description="Counts and agreement per template and backend, finding shares, "
        "inter-rater agreement, comparison win rates, box IoU and the daily trend: the review "
        "tab's dashboard, as JSON.",
    )
    _common(stats)
    stats.set_defaults(func=run)

    load = actions.add_parser(
        "import",
        help="load JSON Lines exports or Hub shards into the store (idempotent by record id)",
        description="Load exports (`feedback export --format jsonl`, from any version of the "
        "app) or the Hub dataset's shards into the store. A record already there is replaced "
        "only by a newer copy (later updated_at), so importing twice changes nothing and "
        "several imports may run at once. Lines that are not valid records are listed and "
        "skipped; the exit status is then 1.",
    )
    load.add_argument("files", nargs="+", type=Path, help="JSON Lines files, or folders of them")
    load.add_argument(
        "--db", help="SQLite file or postgresql:// URL (default: MEDGEMMA_FEEDBACK_DB)"
    )
    load.set_defaults(func=run_import)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", help="SQLite file or postgresql:// URL (default: MEDGEMMA_FEEDBACK_DB)"
    )
    parser.add_argument("--session", help="only this session label")


def _target(args: argparse.Namespace) -> Path | str:
    from medgemma_ui.feedback.store import is_postgres_url
    from medgemma_ui.settings import Settings

    if args.db is None:
        return Settings.from_env().feedback.db_target
    return args.db if is_postgres_url(args.db) else Path(args.db)


def run(args: argparse.Namespace) -> int:
    from medgemma_ui.feedback import FeedbackStore
    from medgemma_ui.feedback.export import export_to_file

    target = _target(args)
    if isinstance(target, Path) and not target.exists():
        print(
            f"No feedback database at {target}; set MEDGEMMA_FEEDBACK_DB or pass --db.",
            file=sys.stderr,
        )
        return 2
    with FeedbackStore(target) as store:
        if args.action == "stats":
            from medgemma_ui.feedback.agreement import dashboard

            figures = dashboard(store.iter_all(session_label=args.session))
            stats = store.stats(session_label=args.session) | figures
            print(json.dumps(stats, indent=2, ensure_ascii=False))
            return 0
        if args.out is None:
            n = store.export(args.fmt, sys.stdout, session_label=args.session)
        else:
            # never a half-written export under the real name; mode 0600
            n = export_to_file(store, args.fmt, args.out, session_label=args.session)
    print(f"Exported {n} ratings" + (f" to {args.out}" if args.out else ""), file=sys.stderr)
    return 0


def run_import(args: argparse.Namespace) -> int:
    from medgemma_ui.feedback import FeedbackStore
    from medgemma_ui.feedback.importer import import_files
    from medgemma_ui.settings import Settings

    keep_images = Settings.from_env().feedback.keep_images
    try:
        with FeedbackStore(_target(args), keep_images=keep_images) as store:
            report = import_files(store, args.files)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(report.summary(), file=sys.stderr)
    return 1 if report.skipped else 0
