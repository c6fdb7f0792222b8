"""`python -m medgemma_ui serve`: start the web app, reading ./.env first (as `python app.py`)."""

from __future__ import annotations

import argparse
import os
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="start the web app", description=__doc__)
    parser.add_argument("--host", help="overrides MEDGEMMA_HOST")
    parser.add_argument("--port", type=int, help="overrides MEDGEMMA_PORT")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from medgemma_ui.dotenv_loader import load_env_file

    load_env_file()  # ./.env, never overriding the environment
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    from medgemma_ui.fast_import import skip_stub_generation

    skip_stub_generation()  # before gradio is imported: halves the import
    from dataclasses import replace

    from medgemma_ui.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as exc:  # one sentence naming the variable, not a traceback
        print(exc, file=sys.stderr)
        return 2
    from medgemma_ui.ui.server import serve

    server = settings.server
    if args.host:
        server = replace(server, host=args.host)
    if args.port:
        server = replace(server, port=args.port)
    serve(settings.with_changes(server=server))
    return 0
