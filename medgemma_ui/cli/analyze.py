"""`python -m medgemma_ui analyze INPUT... [--template NAME] [--backend NAME]`

One JSON object per input on stdout (or `--out`), a progress bar on a terminal, and a summary line
(valid, invalid, failed) on stderr. A file that fails becomes an error line; the rest go on.

From a PACS: `analyze --dicomweb [URL] --study UID [--series UID|N]` retrieves the series over
DICOMweb (URL, else MEDGEMMA_DICOMWEB_URL) and analyses it as one request. With `--dicomweb`,
`--study` is a Study Instance UID or an accession number, not a folder. For one request (a PACS
series, a --study folder, a --prior pair or one file), `--sr-out`, `--fhir-out` and `--pdf-out`
write the result as a DICOM SR, a FHIR R4 Bundle and a one-page PDF, and `--store-sr` sends the SR
to the PACS (STOW-RS).
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
        help="a folder holding one series (CT/MR): one request and one line for the series "
        "(template auto: ct-volume or mri-volume); with --dicomweb, a Study Instance UID or an "
        "accession number",
    )
    parser.add_argument(
        "--series",
        help="1-based series when --study holds several; with --dicomweb, a Series Instance UID "
        "or the 1-based number in the study's list (default: the study's only series)",
    )
    parser.add_argument(
        "--dicomweb",
        nargs="?",
        const="",
        metavar="URL",
        help="open --study from a PACS over DICOMweb (URL, else MEDGEMMA_DICOMWEB_URL; "
        "authentication from MEDGEMMA_DICOMWEB_*)",
    )
    parser.add_argument("--sr-out", type=Path, help="write the result as a DICOM SR (TID 1500)")
    parser.add_argument("--fhir-out", type=Path, help="write the result as a FHIR R4 Bundle (JSON)")
    parser.add_argument("--pdf-out", type=Path, help="write the result as a one-page PDF")
    parser.add_argument(
        "--store-sr",
        action="store_true",
        help="send the DICOM SR to the PACS (STOW-RS) into the source study",
    )
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


def _series_number(args: argparse.Namespace) -> int | None:
    """--series for a folder: a 1-based number (ValueError otherwise)."""
    if args.series is None or args.dicomweb is not None:
        return None
    try:
        number = int(args.series)
    except ValueError:
        raise ValueError("--series takes a number (1, 2, ...) for a --study folder.") from None
    if number < 1:
        raise ValueError("--series counts from 1.")
    return number


def _exports_wanted(args: argparse.Namespace) -> bool:
    return bool(args.sr_out or args.fhir_out or args.pdf_out or args.store_sr)


def check_pacs_args(args: argparse.Namespace) -> None:
    """Wrong combinations of the PACS and export options (ValueError with a sentence)."""
    if args.dicomweb is not None:
        if not args.study:
            raise ValueError("With --dicomweb, give --study with a Study Instance UID.")
        if args.inputs or args.prior is not None:
            raise ValueError("With --dicomweb, give only --study (and --series): no files.")
    elif args.store_sr and not args.study:
        raise ValueError("--store-sr sends the SR of a PACS study: use it with --dicomweb.")
    if _exports_wanted(args) and args.dicomweb is None:
        if args.store_sr:
            raise ValueError("--store-sr sends the SR of a PACS study: use it with --dicomweb.")
        if len(jobs(args)) != 1:
            raise ValueError(
                "--sr-out, --fhir-out and --pdf-out take one request: one file, a --study "
                "folder, a --prior pair or a PACS study."
            )


def jobs(args: argparse.Namespace) -> list[tuple[str, tuple[Path, ...]]]:
    """(name of the line, images of one request): a study is one request, a prior and current
    pair is one, and otherwise every file is its own. ValueError for a wrong combination.
    A PACS study has no files yet: it is one job named "dicomweb" (its images come later)."""
    if args.dicomweb is not None:
        return [("dicomweb", ())]
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
    if not images:  # a stand-in of the right count, only for checking the options
        images = (Path(),) * (2 if template == "cxr-compare" else 1)
    return AnalysisRequest.build(
        images,
        settings.generation,
        template=template,
        target=args.target,
        series=_series_number(args),
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
    from medgemma_ui.pacs.dicomweb import PacsError

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
                if args.dicomweb is not None:
                    line = await _pacs_job(args, settings, backend, preparer)
                else:
                    request = _request(args, settings, images)
                    result = await analyze_to_result(
                        request, backend, preparer=preparer, limits=settings.image_limits
                    )
                    line = {"input": name, **result.to_json()}
                    if args.prior is not None:
                        line["prior"] = str(args.prior)
                    if _exports_wanted(args):
                        from medgemma_ui.exports import SourceIndex

                        sources = await asyncio.to_thread(SourceIndex.from_sources, images)
                        line["exports"] = await _write_exports(args, settings, result, sources)
                if line.get("exports", {}).get("errors"):
                    counts["failed"] += 1  # the analysis is there, an export is not
                else:
                    counts["valid" if line["valid"] else "invalid"] += 1
            except ImageError as exc:
                line = _failure_line(name, template, backend_name, str(exc), "image")
                counts["failed"] += 1
            except PacsError as exc:
                line = _failure_line(name, template, backend_name, str(exc), f"pacs_{exc.kind}")
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


async def _pacs_job(
    args: argparse.Namespace, settings: Any, backend: Any, preparer: Any
) -> dict[str, Any]:
    """Retrieve the PACS series (in parallel, slices prepared as they arrive), analyse it as
    one request, write and store the exports. The retrieved files are removed at the end."""
    from medgemma_ui.analysis import analyze_to_result
    from medgemma_ui.exports import SourceIndex
    from medgemma_ui.pacs.dicomweb import DicomwebClient
    from medgemma_ui.pacs.prefetch import PrefetchingPreparer, prefetch_callback

    client = DicomwebClient(settings.pacs)
    retrieved = None
    prefetching = PrefetchingPreparer(preparer)
    try:
        study, series = await asyncio.to_thread(_choose_series, client, args)
        limit = settings.image_limits.max_frames
        entries = await asyncio.to_thread(client.checked_instances, study, series.series_uid, limit)
        retrieved = await client.retrieve_series(
            study,
            series.series_uid,
            max_images=limit,
            entries=entries,
            on_instance=prefetch_callback(prefetching, entries),
        )
        paths = tuple(Path(str(source)) for source in retrieved.sources)
        request = _request(args, settings, paths)
        result = await analyze_to_result(
            request, backend, preparer=prefetching, limits=settings.image_limits
        )
        line: dict[str, Any] = {
            "input": "dicomweb",
            "series": {"modality": series.modality, "images": len(paths)},
            **result.to_json(),
        }
        if _exports_wanted(args):
            sources = await asyncio.to_thread(SourceIndex.from_sources, paths)
            line["exports"] = await _write_exports(args, settings, result, sources, client)
        return line
    finally:
        await prefetching.aclose()
        if retrieved is not None:
            retrieved.cleanup()
        client.close()


def _choose_series(client: Any, args: argparse.Namespace) -> tuple[str, Any]:
    """The study (by UID or accession number) and its series chosen by --series."""
    studies = client.find_studies(args.study)
    if len(studies) > 1:
        listed = "; ".join(f"{n}) {s.describe()}" for n, s in enumerate(studies, 1))
        raise ValueError(
            f"{len(studies)} studies have that accession number: {listed}. Give the Study "
            "Instance UID with --study."
        )
    study = studies[0].study_uid
    series = client.list_series(study)
    wanted = (args.series or "").strip()
    if not wanted:
        if len(series) == 1:
            return study, series[0]
        listed = "; ".join(f"{n}) {s.describe()}" for n, s in enumerate(series, 1))
        raise ValueError(
            f"This study holds {len(series)} series: {listed}. Choose one with --series N "
            "(or its Series Instance UID)."
        )
    if wanted.isdigit():
        number = int(wanted)
        if not 1 <= number <= len(series):
            raise ValueError(f"There is no series {number}; choose 1 to {len(series)}.")
        return study, series[number - 1]
    for entry in series:
        if entry.series_uid == wanted:
            return study, entry
    from medgemma_ui.pacs.dicomweb import PacsError

    raise PacsError("empty", "This study has no series with that UID on the PACS; check --series.")


async def _write_exports(
    args: argparse.Namespace, settings: Any, result: Any, sources: Any, client: Any = None
) -> dict[str, Any]:
    """Write the asked-for exports (each whole or not at all) and store the SR when asked.
    Returns what was written, and one sentence per export that could not be made."""
    from medgemma_ui import exports

    done: dict[str, Any] = {}
    errors: list[str] = []
    sr = None
    if args.sr_out or args.store_sr:
        try:
            sr = await asyncio.to_thread(exports.build_sr_dataset, result, sources)
        except ValueError as exc:
            errors.append(f"No DICOM SR: {exc}")
    if sr is not None and args.sr_out:
        exports.write_atomically(args.sr_out, exports.sr_bytes(sr))
        done["sr"] = str(args.sr_out)
    if args.fhir_out:
        bundle = exports.build_fhir_bundle(result, sources)
        exports.write_atomically(args.fhir_out, exports.fhir_json(bundle))
        done["fhir"] = str(args.fhir_out)
    if args.pdf_out:
        pdf = await asyncio.to_thread(exports.build_pdf_bytes, result)
        exports.write_atomically(args.pdf_out, pdf)
        done["pdf"] = str(args.pdf_out)
    if args.store_sr and sr is not None:
        from medgemma_ui.pacs.dicomweb import PacsError

        try:
            outcome = await asyncio.to_thread(client.store, [sr], str(sr.StudyInstanceUID))
            done["stored"] = outcome.stored
        except PacsError as exc:
            errors.append(str(exc))
            done["stored"] = 0
    if errors:
        done["errors"] = errors
    return done


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
        check_pacs_args(args)
        if args.dicomweb:  # the URL given wins over MEDGEMMA_DICOMWEB_URL
            import os

            from medgemma_ui.pacs.settings import PacsSettings

            env = {**os.environ, "MEDGEMMA_DICOMWEB_URL": args.dicomweb}
            settings = settings.with_changes(pacs=PacsSettings.from_env(env))
        if args.dicomweb is not None and not settings.pacs.url:
            raise ValueError("--dicomweb needs a URL, or MEDGEMMA_DICOMWEB_URL set.")
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
