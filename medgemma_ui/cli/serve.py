"""`python -m medgemma_ui serve`: start the web app (same as `python app.py`)."""

from __future__ import annotations

import argparse
import os


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="start the web app", description=__doc__)
    parser.add_argument("--host", help="overrides MEDGEMMA_HOST")
    parser.add_argument("--port", type=int, help="overrides MEDGEMMA_PORT")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    from dataclasses import replace

    from medgemma_ui.settings import Settings
    from medgemma_ui.ui.server import serve

    settings = Settings.from_env()
    server = settings.server
    if args.host:
        server = replace(server, host=args.host)
    if args.port:
        server = replace(server, port=args.port)
    serve(settings.with_changes(server=server))
    return 0
