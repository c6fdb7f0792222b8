"""`python -m medgemma_ui serve | prepare | analyze | feedback ...`"""

from __future__ import annotations

import argparse
import importlib
import os
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
    from medgemma_ui.dotenv_loader import load_env_file
    from medgemma_ui.settings import SettingsError, templates_dir_from_env

    load_env_file()  # ./.env, never overriding the environment
    try:
        templates_dir = templates_dir_from_env(os.environ)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    if templates_dir is not None:  # before the parser: `analyze --help` lists the templates
        from medgemma_ui.templates import use_templates_dir

        use_templates_dir(templates_dir)
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
