"""`python -m medgemma_ui prepare INPUT -o OUT.jpg [--window NAME] [--frame N]`: write the exact
JPEG MedGemma would receive and print its `info` as JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prepare",
        help="convert one image (PNG, JPEG, DICOM, ...) to the 896×896 JPEG sent to MedGemma",
        description=__doc__,
    )
    parser.add_argument("input", type=Path, help="image file (type is detected from content)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="where to write the JPEG")
    parser.add_argument(
        "--window",
        default=None,
        help="greyscale window: medgemma, lung, soft_tissue, bone, brain, mediastinum, liver, "
        "file, file:N or auto (default: medgemma for CT, the file's own window, else auto)",
    )
    parser.add_argument(
        "--frame", type=int, default=None, help="0-based frame (default: the middle one)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from medgemma_ui.imaging import ImageError, prepare
    from medgemma_ui.settings import ImageLimits, SettingsError

    try:
        limits = ImageLimits.from_env(os.environ)
        prepared = prepare(args.input, window=args.window, frame=args.frame, limits=limits)
    except (ImageError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        args.output.write_bytes(prepared.jpeg)
    except OSError as exc:
        print(f"error: could not write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    json.dump(prepared.info.to_json(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0
