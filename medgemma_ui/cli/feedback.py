"""`python -m medgemma_ui feedback export|stats|import`: read, summarise or merge the clinician
feedback store.

The store is MEDGEMMA_FEEDBACK_DB (or --db): a SQLite file, or a postgresql:// URL. Exports never
include image bytes and are written with mode 0600.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "feedback", help="export, summarise or import feedback", description=__doc__
    )
    actions = parser.add_subparsers(dest="action", required=True)

    export = _action(
        actions,
        "export",
        run,
        help="write every rating (or, with --votes, every comparison vote) as CSV or JSON Lines",
        session=True,
    )
    export.add_argument("--format", choices=("csv", "jsonl"), default="csv", dest="fmt")
    export.add_argument("--out", type=Path, help="output file (default: standard output)")
    export.add_argument(
        "--votes",
        action="store_true",
        help="the blinded comparisons' votes (both arms and their answers), not the ratings",
    )
    _action(
        actions,
        "stats",
        run,
        help="print counts and the agreement dashboard's figures as JSON",
        description="Counts and agreement per template and backend, finding shares, "
        "inter-rater agreement, comparison win rates, box IoU and the daily trend: the review "
        "tab's dashboard, as JSON.",
        session=True,
    )
    load = _action(
        actions,
        "import",
        run_import,
        help="load JSON Lines exports or Hub shards into the store (idempotent by record id)",
        description="Load exports (`feedback export --format jsonl`, from any version of the "
        "app) or the Hub dataset's shards into the store. A record already there is replaced "
        "only by a newer copy (later updated_at), so importing twice changes nothing and "
        "several imports may run at once. Lines that are not valid records are listed and "
        "skipped; the exit status is then 1.",
    )
    load.add_argument("files", nargs="+", type=Path, help="JSON Lines files, or folders of them")

    compare = actions.add_parser(
        "comparison",
        help="set up a blinded comparison session (two arms, images from a folder)",
        description="A blinded comparison session, set up in advance: two arms (backend, "
        "template, optional prompt) and the images clinicians work through in the Compare tab. "
        "The images are prepared now (as the app would send them) and kept in the store with "
        "the session: only the prepared JPEG and its non-identifying facts, never the file "
        "name or a DICOM tag. For images from the PACS, export the study to a folder first.",
    )
    compare_actions = compare.add_subparsers(dest="comparison_action", required=True)
    create = _action(compare_actions, "create", run_comparison, help="create a session")
    create.add_argument("label", help="the session's name, shown to clinicians")
    create.add_argument(
        "--arm",
        action="append",
        required=True,
        help="label=...,backend=openai,template=cxr[,prompt=...]; give --arm twice",
    )
    create.add_argument("images", nargs="+", type=Path, help="image files or folders of them")
    create.add_argument("--window", help="the window for every image (default: each image's)")
    _action(compare_actions, "list", run_comparison, help="list the sessions as JSON")


def _action(
    actions: argparse._SubParsersAction,
    name: str,
    func: Callable[[argparse.Namespace], int],
    *,
    help: str,
    description: str | None = None,
    session: bool = False,
) -> argparse.ArgumentParser:
    """A subcommand that runs `func`, with --db (and --session: only that session's records)."""
    parser: argparse.ArgumentParser = actions.add_parser(name, help=help, description=description)
    parser.add_argument(
        "--db", help="SQLite file or postgresql:// URL (default: MEDGEMMA_FEEDBACK_DB)"
    )
    if session:
        parser.add_argument("--session", help="only this session label")
    parser.set_defaults(func=func)
    return parser


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

            figures = dashboard(
                store.iter_all(session_label=args.session),
                store.iter_votes(session_label=args.session),
            )
            stats = store.stats(session_label=args.session) | figures
            print(json.dumps(stats, indent=2, ensure_ascii=False))
            return 0
        if args.out is None:
            n = store.export(args.fmt, sys.stdout, session_label=args.session, votes=args.votes)
        else:
            # never a half-written export under the real name; mode 0600
            n = export_to_file(
                store, args.fmt, args.out, session_label=args.session, votes=args.votes
            )
    what = "comparison votes" if args.votes else "ratings"
    print(f"Exported {n} {what}" + (f" to {args.out}" if args.out else ""), file=sys.stderr)
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


def _image_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
            )
        else:
            files.append(path)
    return files


def run_comparison(args: argparse.Namespace) -> int:
    from medgemma_ui.feedback import FeedbackStore
    from medgemma_ui.feedback.comparison import Arm
    from medgemma_ui.settings import Settings

    if args.comparison_action == "list":
        with FeedbackStore(_target(args)) as store:
            sessions = [
                {
                    "id": c.id,
                    "label": c.label,
                    "created_at": c.created_at,
                    "images": c.items,
                    "arms": [a.to_json() for a in c.arms],
                }
                for c in store.comparisons()
            ]
        print(json.dumps(sessions, indent=2, ensure_ascii=False))
        return 0

    from medgemma_ui.imaging import ImageError, prepare

    try:
        arms = tuple(Arm.parse(spec) for spec in args.arm)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if len(arms) != 2:
        print("Give exactly two --arm options (A and B).", file=sys.stderr)
        return 2
    limits = Settings.from_env().image_limits
    images = []
    number = 0
    for number, path in enumerate(_image_files(args.images), start=1):
        try:
            prepared = prepare(path, window=args.window, limits=limits)
        except (ImageError, OSError) as exc:
            # The file's position, not its name: names can identify a patient.
            print(f"Image {number} was left out: {exc}", file=sys.stderr)
            continue
        images.append((prepared.jpeg, prepared.info.to_json()))
    if not images:
        print("No image could be prepared; nothing was set up.", file=sys.stderr)
        return 2
    try:
        with FeedbackStore(_target(args)) as store:
            session = store.create_comparison(args.label, arms, images)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(
        f"Comparison session {session.label!r}: {session.items} of {number} images, arms "
        f"{arms[0].label!r} and {arms[1].label!r}. Clinicians find it in the Compare tab.",
        file=sys.stderr,
    )
    return 0
