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

    parser.add_argument(
        "inputs", nargs="*", help="image or DICOM files, or folders of them (one line each)"
    )
    parser.add_argument(
        "--study",
        type=Path,
        help="a folder holding one series (CT/MR): one request and one line for the series "
        "(template auto: ct-volume or mri-volume)",
    )
    parser.add_argument("--series", type=int, help="1-based series when --study holds several")
    parser.add_argument(
        "--prior",
        type=Path,
        help="the prior image; the one input is the current image (template cxr-compare)",
    )
    parser.add_argument(
        "--target",
        help='what to locate, e.g. "left lung" (template cxr-localize); the line has "boxes"',
    )
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


def _template(args: argparse.Namespace) -> str:
    """The template: as given, else the one the mode implies (auto for images and studies)."""
    from medgemma_ui.templates import AUTO_TEMPLATE

    if args.template != AUTO_TEMPLATE:
        return str(args.template)
    if args.prior is not None:
        return "cxr-compare"
    if args.target:
        return "cxr-localize"
    return AUTO_TEMPLATE


def jobs(args: argparse.Namespace) -> list[tuple[str, tuple[Path, ...]]]:
    """(name of the line, images of one request): a study is one request, a prior and current
    pair is one, and otherwise every file is its own. ValueError for a wrong combination."""
    if args.study is not None:
        if args.inputs or args.prior is not None:
            raise ValueError("Give --study alone: the folder is the whole request.")
        files = expand_inputs([str(args.study)])
        if not files:
            raise ValueError(f"{args.study} holds no files.")
        return [(str(args.study), tuple(files))]
    if not args.inputs:
        raise ValueError("Give images or folders to analyze, or --study FOLDER.")
    if args.prior is not None:
        if len(args.inputs) != 1 or Path(args.inputs[0]).is_dir():
            raise ValueError("With --prior, give exactly one current image.")
        return [(args.inputs[0], (args.prior, Path(args.inputs[0])))]
    return [(str(path), (path,)) for path in expand_inputs(args.inputs)]


def _request(
    args: argparse.Namespace, settings: Any, images: tuple[Path, ...] | None = None
) -> Any:
    """The analysis request for one job; without images, only the options are checked
    (ValueError when one is out of range)."""
    from medgemma_ui.analysis import AnalysisRequest

    template = _template(args)
    if images is None:  # a stand-in of the right count, only for checking the options
        images = (Path(),) * (2 if template == "cxr-compare" else 1)
    return AnalysisRequest.build(
        images,
        settings.generation,
        template=template,
        target=args.target,
        series=args.series,
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
    work = jobs(args)
    counts = {"valid": 0, "invalid": 0, "failed": 0}
    progress = _progress_bar(len(work))
    preparer = thread_preparer(settings.image_limits)
    semaphore = asyncio.Semaphore(max(1, args.concurrency))
    write_lock = asyncio.Lock()

    async def one(name: str, images: tuple[Path, ...]) -> None:
        template = _template(args)
        async with semaphore:
            try:
                backend = registry.get(backend_name)
                request = _request(args, settings, images)
                result = await analyze_to_result(
                    request, backend, preparer=preparer, limits=settings.image_limits
                )
                line = {"input": name, **result.to_json()}
                if args.prior is not None:
                    line["prior"] = str(args.prior)
                counts["valid" if result.valid else "invalid"] += 1
            except ImageError as exc:
                line = _failure_line(name, template, backend_name, str(exc), "image")
                counts["failed"] += 1
            except BackendError as exc:
                line = _failure_line(name, template, backend_name, str(exc), exc.kind)
                counts["failed"] += 1
            except ValueError as exc:  # e.g. a template that takes another kind of input
                line = _failure_line(name, template, backend_name, str(exc), "bad_request")
                counts["failed"] += 1
            except Exception as exc:  # one unexpected failure must not stop the batch
                log.error("unexpected failure on one input: %s", redact(repr(exc)))
                message = "An unexpected error stopped this input; the log has the details."
                line = _failure_line(name, template, backend_name, message, "internal")
                counts["failed"] += 1
            async with write_lock:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
                out.flush()
                if progress is not None:
                    progress.update(1)

    try:
        await asyncio.gather(*(one(name, images) for name, images in work))
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
        jobs(args)
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
