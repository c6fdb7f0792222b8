"""`python -m medgemma_ui analyze INPUT... [--template NAME] [--backend NAME]`

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
    from medgemma_ui.templates import AUTO_TEMPLATE, template_ids

    parser.add_argument("inputs", nargs="+", help="image or DICOM files, or folders of them")
    parser.add_argument(
        "--template",
        default=AUTO_TEMPLATE,
        help=f"one of {', '.join(template_ids())}, or {AUTO_TEMPLATE} (the default: suggested "
        "from each image's modality)",
    )
    from medgemma_ui.backends import backend_help

    parser.add_argument(
        "--backend",
        help="; ".join(f"{name}: {line}" for name, line in backend_help().items())
        + " (default: MEDGEMMA_DEFAULT_BACKEND, else the first one set up)",
    )
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


def _request(args: argparse.Namespace, settings: Any, path: Path | None = None) -> Any:
    """The analysis request for one input; without one, only the options are checked
    (ValueError when one is out of range)."""
    from medgemma_ui.analysis import AnalysisRequest

    return AnalysisRequest.build(
        [path or Path()],
        settings.generation,
        template=args.template,
        window=args.window,
        frame=args.frame,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        retries=args.retries,
        structured=not args.no_structured_output,
        structured_allowed=settings.backends.structured_output,
    )


async def _analyze_all(
    args: argparse.Namespace, out: TextIO, settings: Any
) -> tuple[int, int, int]:
    from medgemma_ui.analysis import analyze_to_result, thread_preparer
    from medgemma_ui.backends import BackendError, BackendRegistry, redact
    from medgemma_ui.imaging import ImageError

    registry = BackendRegistry(settings.backends)
    backend_name = args.backend or registry.default_name()
    paths = expand_inputs(args.inputs)
    counts = {"valid": 0, "invalid": 0, "failed": 0}
    progress = _progress_bar(len(paths))
    preparer = thread_preparer(settings.image_limits)
    semaphore = asyncio.Semaphore(max(1, args.concurrency))
    write_lock = asyncio.Lock()

    async def one(path: Path) -> None:
        async with semaphore:
            try:
                backend = registry.get(backend_name)
                request = _request(args, settings, path)
                result = await analyze_to_result(request, backend, preparer=preparer)
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
    from medgemma_ui.settings import Settings
    from medgemma_ui.templates import UnknownTemplateError

    try:
        settings = Settings.from_env()
        _request(args, settings)  # every option checked before any input is read
    except UnknownTemplateError as exc:
        print(exc, file=sys.stderr)
        return 2
    except ValueError as exc:  # SettingsError is a ValueError; so are out-of-range options
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out.open("w", encoding="utf-8") if args.out else sys.stdout
    try:
        valid, invalid, failed = asyncio.run(_analyze_all(args, out, settings))
    finally:
        if args.out:
            out.close()
    total = valid + invalid + failed
    print(f"{total} inputs: {valid} valid, {invalid} invalid, {failed} failed", file=sys.stderr)
    return 1 if failed else 0
