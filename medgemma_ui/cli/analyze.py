"""`python -m medgemma_ui analyze INPUT... --template NAME --backend NAME`

One JSON object per input on stdout (or `--out`), a progress bar on a terminal, and a summary line
(valid, invalid, failed) on stderr. A file that fails becomes an error line; the rest go on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="analyze images or folders with a MedGemma backend, one JSON line per input",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", help="image or DICOM files, or folders of them")
    parser.add_argument("--template", required=True, help="cxr, ct, derm, mri, pathology, ...")
    parser.add_argument("--backend", help="hf-endpoint, vertex, openai or local")
    parser.add_argument("--max-tokens", type=int, default=None)
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument("--retries", type=int, default=None, help="parse retries, 0-2")
    parser.add_argument("--window", default=None, help="window preset for DICOM")
    parser.add_argument("--frame", type=int, default=None, help="0-based frame for multi-frame")
    parser.add_argument(
        "--no-structured-output",
        action="store_true",
        help="do not ask the backend for JSON-schema constrained decoding",
    )
    parser.add_argument("--concurrency", type=int, default=2, help="inputs analyzed at once")
    parser.add_argument("--out", type=Path, help="write JSON Lines here instead of stdout")
    parser.set_defaults(func=run)


def expand_inputs(inputs: list[str]) -> list[Path]:
    """Files as given, folders expanded to their files (recursively, sorted, hidden skipped)."""
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            paths.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            paths.append(path)
    return paths


def _failure_line(
    name: str, template: str, backend: str, message: str, kind: str
) -> dict[str, Any]:
    return {
        "input": name,
        "template": template,
        "backend": backend,
        "raw": None,
        "parsed": None,
        "valid": False,
        "errors": [message],
        "error_kind": kind,
        "timings_ms": {},
    }


def _settings_and_options(args: argparse.Namespace) -> tuple[Any, Any]:
    """Settings from the environment and the analysis options; ValueError when either is bad."""
    from medgemma_ui.analysis import AnalysisOptions
    from medgemma_ui.settings import Settings

    settings = Settings.from_env()
    defaults = settings.generation
    options = AnalysisOptions(
        template_id=args.template,
        max_tokens=args.max_tokens or defaults.max_tokens,
        temperature=defaults.temperature if args.temperature is None else args.temperature,
        parse_retries=defaults.parse_retries if args.retries is None else args.retries,
        structured_output=settings.backends.structured_output and not args.no_structured_output,
        window=args.window,
        frame=args.frame,
    )
    return settings, options


async def _analyze_all(
    args: argparse.Namespace, out: TextIO, settings: Any, options: Any
) -> tuple[int, int, int]:
    from medgemma_ui.analysis import analyze_to_result
    from medgemma_ui.backends import BackendError, BackendRegistry, redact
    from medgemma_ui.imaging import ImageError

    registry = BackendRegistry(settings.backends)
    backend_name = args.backend or registry.default_name()
    paths = expand_inputs(args.inputs)
    counts = {"valid": 0, "invalid": 0, "failed": 0}
    progress = _progress_bar(len(paths))
    semaphore = asyncio.Semaphore(max(1, args.concurrency))
    write_lock = asyncio.Lock()

    async def one(path: Path) -> None:
        async with semaphore:
            try:
                backend = registry.get(backend_name)
                result = await analyze_to_result(
                    path, options, backend, limits=settings.image_limits
                )
                line = {"input": str(path), **result.to_json()}
                counts["valid" if result.valid else "invalid"] += 1
            except ImageError as exc:
                line = _failure_line(str(path), args.template, backend_name, str(exc), "image")
                counts["failed"] += 1
            except BackendError as exc:
                line = _failure_line(str(path), args.template, backend_name, str(exc), exc.kind)
                counts["failed"] += 1
            except Exception as exc:  # one unexpected failure must not stop the batch
                log.error("unexpected failure on one input: %s", redact(repr(exc)))
                message = "An unexpected error stopped this input; the log has the details."
                line = _failure_line(str(path), args.template, backend_name, message, "internal")
                counts["failed"] += 1
            async with write_lock:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
                out.flush()
                if progress is not None:
                    progress.update(1)

    try:
        await asyncio.gather(*(one(p) for p in paths))
    finally:
        if progress is not None:
            progress.close()
        await registry.aclose()
    return counts["valid"], counts["invalid"], counts["failed"]


def _progress_bar(total: int) -> Any:
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="image", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    __import__("medgemma_ui.dotenv_loader").dotenv_loader.load_env_file()  # ./.env, env wins
    from medgemma_ui.templates import TEMPLATE_IDS

    if args.template not in TEMPLATE_IDS:
        print(
            f"Unknown template {args.template!r}; choose one of {', '.join(TEMPLATE_IDS)}.",
            file=sys.stderr,
        )
        return 2
    try:
        settings, options = _settings_and_options(args)
    except ValueError as exc:  # SettingsError is a ValueError; so are out-of-range options
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out.open("w", encoding="utf-8") if args.out else sys.stdout
    try:
        valid, invalid, failed = asyncio.run(_analyze_all(args, out, settings, options))
    finally:
        if args.out:
            out.close()
    total = valid + invalid + failed
    print(f"{total} inputs: {valid} valid, {invalid} invalid, {failed} failed", file=sys.stderr)
    return 1 if failed else 0
