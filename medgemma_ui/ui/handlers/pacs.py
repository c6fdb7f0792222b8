"""PACS handlers: find a study, open a series (its files then go through the same preparation as an
upload), and the result's exports (DICOM SR, FHIR, PDF; "Send SR to PACS").

The series found are kept server-side (a `gr.State`): the page shows their descriptions and
sends back an index, so UIDs never travel to the browser as values. Exports are built from the
files the result was computed from (their DICOM headers hold the identities the SR references),
written under names that say nothing about the patient. Opened files and exports alike are
patient data: each is given to the caller's login (`Services.give`), so another login can
neither download it nor prepare it, and exports are built only from files the caller may read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from medgemma_ui import exports
from medgemma_ui.analysis import AnalysisResult
from medgemma_ui.pacs.dicomweb import DicomwebClient, PacsError, SeriesEntry
from medgemma_ui.ui.services import Services

log = logging.getLogger(__name__)

MAX_STUDIES = 5
EXPORT_NAMES = {"sr": "medgemma-sr.dcm", "fhir": "medgemma-fhir.json", "pdf": "medgemma-report.pdf"}


def _client(services: Services) -> DicomwebClient:
    return DicomwebClient(services.settings.pacs)


def _lookup(services: Services, query: str) -> list[tuple[str, SeriesEntry]]:
    with _client(services) as client:
        studies = client.find_studies(query, limit=MAX_STUDIES)
        found: list[tuple[str, SeriesEntry]] = []
        for study in studies:
            for series in client.list_series(study.study_uid):
                prefix = f"{study.describe()} · " if len(studies) > 1 else ""
                found.append((prefix + series.describe(), series))
    return found


async def find_study(query: str | None, services: Services) -> dict[str, Any]:
    """The series of the study with that accession number or Study Instance UID."""
    try:
        found = await asyncio.to_thread(_lookup, services, query or "")
    except PacsError as exc:
        log.info("PACS lookup failed: %s", exc.kind)
        return {
            "pacs_series": gr.update(choices=[], value=None, visible=False),
            "pacs_open": gr.update(interactive=False),
            "pacs_found": [],
            "pacs_status": f"**Not found.** {exc}",
        }
    choices = [(label, index) for index, (label, _) in enumerate(found)]
    largest = max(range(len(found)), key=lambda i: found[i][1].instances or 0)
    return {
        "pacs_series": gr.update(choices=choices, value=largest, visible=True),
        "pacs_open": gr.update(interactive=True),
        "pacs_found": [series for _, series in found],
        "pacs_status": f"{len(found)} series found; choose one and open it.",
    }


async def open_series(
    choice: int | None,
    found: list[SeriesEntry] | None,
    services: Services,
    login: str | None,
    progress: Any = None,
) -> AsyncIterator[dict[str, Any]]:
    """Retrieve the chosen series in parallel (with progress) and give its files to `login`'s
    upload (one image) or series upload (several); the private download folder is removed."""
    if not found or choice is None or not 0 <= int(choice) < len(found):
        yield {"pacs_status": "Find a study and choose a series first."}
        return
    series = found[int(choice)]
    limit = services.settings.image_limits.max_frames

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress((done, total), desc="Retrieving from the PACS", unit="images")

    try:
        with _client(services) as client:
            retrieved = await client.retrieve_series(
                series.study_uid, series.series_uid, max_images=limit, on_progress=report
            )
    except PacsError as exc:
        log.info("PACS retrieval failed: %s", exc.kind)
        yield {"pacs_status": f"**Not opened.** {exc}"}
        return
    try:
        paths = [services.give(str(source), login) for source in retrieved.sources]
        what = f"{series.modality or 'DICOM'}, {len(paths)} image(s)"
        if len(paths) == 1:
            yield {
                "upload": paths[0],
                "pacs_status": f"Opened {what}: it is shown as the upload; analyze when ready.",
            }
        else:
            yield {
                "study_files": gr.update(value=paths, visible=True),
                "pacs_status": f"Opened {what} as a series; analyze when ready.",
            }
    finally:
        retrieved.cleanup()


@dataclass(frozen=True)
class ShownResult:
    """The result on screen and the page's file inputs it may have been computed from."""

    result: AnalysisResult | None
    upload: str | None = None
    study: list[str] | None = None
    prior: str | None = None

    def sources(self) -> list[str]:
        """The files the result was computed from, in the order the request had them."""
        kind = self.result.template_input if self.result else ""
        if kind == "series" and self.study:
            return [p for p in self.study if p]
        if kind == "prior" and self.prior and self.upload:
            return [self.prior, self.upload]
        return [self.upload] if self.upload else []


class ForeignFiles(ValueError):
    """The result's files include another login's: nothing is read from them."""


def _readable_sources(shown: ShownResult, services: Services, login: str | None) -> list[str]:
    files = shown.sources()
    if not all(services.uploads.readable(path, login) for path in files):
        raise ForeignFiles("These files were opened by another user; open your own copy.")
    return files


def _rating(values: dict[str, Any]) -> dict[str, Any] | None:
    return {k: v for k, v in values.items() if v} or None


def _build(
    result: AnalysisResult,
    files: list[str],
    rating: dict[str, Any] | None,
    folder: Path,
    kinds: Collection[str],
) -> tuple[dict[str, str], list[str]]:
    """The exports of `kinds` ("sr", "fhir", "pdf") written into `folder`, and notes on any not
    made."""
    made: dict[str, str] = {}
    notes: list[str] = []

    def write(kind: str, data: bytes) -> None:
        path = folder / EXPORT_NAMES[kind]
        path.write_bytes(data)
        made[kind] = str(path)

    sources = exports.SourceIndex.from_sources(files) if {"sr", "fhir"} & set(kinds) else None
    if "sr" in kinds and sources is not None:
        try:
            write("sr", exports.sr_bytes(exports.build_sr_dataset(result, sources)))
        except ValueError as exc:
            notes.append(f"No DICOM SR: {exc}")
    if "fhir" in kinds and sources is not None:
        write("fhir", exports.fhir_json(exports.build_fhir_bundle(result, sources)))
    if "pdf" in kinds:
        write("pdf", exports.build_pdf_bytes(result, rating))
    return made, notes


def no_exports() -> dict[str, Any]:
    hidden = gr.update(value=None, visible=False)
    return {
        "export_sr": hidden,
        "export_fhir": hidden,
        "export_pdf": hidden,
        "store_sr": gr.update(visible=False),
        "export_status": "",
    }


async def make_exports(
    shown: ShownResult,
    services: Services,
    login: str | None,
    rating: dict[str, Any] | None = None,
    kinds: Collection[str] = tuple(EXPORT_NAMES),
) -> dict[str, Any]:
    """The downloads for the result on screen (none without a result), `login`'s alone: all
    three, or only `kinds` (a saved rating changes only the PDF). Only what is offered is
    given to the page; the rest of the working folder is removed."""
    result = shown.result
    if result is None:
        return no_exports()
    folder = Path(tempfile.mkdtemp(prefix="medgemma-exports-"))
    try:
        files = _readable_sources(shown, services, login)
        rated = _rating(rating or {})
        built, notes = await asyncio.to_thread(_build, result, files, rated, folder, kinds)
        made = {kind: services.give(path, login) for kind, path in built.items()}
        return {
            **{
                f"export_{kind}": gr.update(value=made.get(kind), visible=kind in made)
                for kind in EXPORT_NAMES
            },
            "store_sr": gr.update(visible="sr" in made and services.settings.pacs.can_store),
            "export_status": " ".join(notes),
        }
    except ForeignFiles as exc:
        return {**no_exports(), "export_status": f"**No exports.** {exc}"}
    except Exception as exc:  # an export must never take the result down with it
        log.warning("exports failed: %s", type(exc).__name__)
        return {**no_exports(), "export_status": "The exports could not be made for this result."}
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(folder, ignore_errors=True)


def send_sr(shown: ShownResult, services: Services, login: str | None) -> str:
    """STOW-RS of the result's SR into its source study; one sentence either way."""
    result = shown.result
    if result is None:
        return "Analyze first: there is no result to send."
    if not services.settings.pacs.can_store:
        return "Sending to the PACS is not switched on for this server."
    try:
        files = _readable_sources(shown, services, login)
        sources = exports.SourceIndex.from_sources(files)
        sr = exports.build_sr_dataset(result, sources)
        with _client(services) as client:
            client.store([sr], str(sr.StudyInstanceUID))
    except (PacsError, ValueError) as exc:
        return f"**Not sent.** {exc}"
    return "The SR was stored in the PACS, in the study the images came from."
