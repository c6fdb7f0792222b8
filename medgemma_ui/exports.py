"""An analysis result as a DICOM SR, a FHIR R4 Bundle and a one-page PDF.

`SourceIndex` keeps the real identities of the source instances in memory, next to the request
(built from the files or PACS instances the request was made of): the provenance names instances
only by the SHA-256 of their SOP Instance UID, and the SR needs the UIDs themselves to reference
them. It is never logged, stored with feedback, or sent to the model.

`ResultExports.build` turns a result (and the clinician's rating, if any) into the three
documents; each is written whole or not at all (`write_atomically`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import pydicom
from pydicom import Dataset

from medgemma_ui.analysis import AnalysisResult
from medgemma_ui.reports.facts import ReportFacts, finding_lines
from medgemma_ui.reports.readable import plain_problem
from medgemma_ui.reports.sr import SourceImage, source_header
from medgemma_ui.templates import UnknownTemplateError, get_template


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SourceInstance:
    """One source file's identity: its header (patient, study, SOP) and how the provenance
    names it."""

    header: Dataset = field(repr=False)
    frames: int = 1

    @property
    def study_uid(self) -> str:
        return str(self.header.StudyInstanceUID)

    @property
    def instance_sha256(self) -> str:
        return _sha(str(self.header.SOPInstanceUID))


@dataclass
class SourceIndex:
    """The request's DICOM sources in request order (None for a source that is not DICOM),
    and every name the provenance may use for them."""

    instances: list[SourceInstance | None] = field(default_factory=list)
    _by_hash: dict[str, tuple[SourceInstance, int | None]] = field(default_factory=dict)

    @classmethod
    def from_sources(cls, sources: Sequence[bytes | str | PathLike[str]]) -> SourceIndex:
        """Headers only (no pixel data) of each source; a file that is not DICOM is None."""
        index = cls()
        for source in sources:
            index.add(_read_header(source))
        return index

    def add(self, header: Dataset | None) -> None:
        if header is None or "SOPInstanceUID" not in header or "StudyInstanceUID" not in header:
            self.instances.append(None)
            return
        frames = int(header.get("NumberOfFrames", 1) or 1)
        instance = SourceInstance(source_header(header), frames)
        self.instances.append(instance)
        uid = str(header.SOPInstanceUID)
        self._by_hash[_sha(uid)] = (instance, None)
        for frame in range(frames if frames > 1 else 0):
            self._by_hash[_sha(f"{uid}#{frame}")] = (instance, frame + 1)

    def images_sent(self, result: AnalysisResult) -> list[SourceImage]:
        """The source instance (and 1-based frame) of each image the result was computed from,
        in the order sent; ValueError when one is not a DICOM instance this index holds."""
        inputs = list(result.inputs) or [{"role": "image", "frame_index": None}]
        images: list[SourceImage] = []
        for position, item in enumerate(inputs):
            hashed = item.get("instance_sha256")
            if hashed:
                found = self._by_hash.get(str(hashed))
                if found is None:
                    raise ValueError("The images sent are not among the DICOM files of this study.")
                instance, frame = found
            else:
                if position >= len(self.instances) or self.instances[position] is None:
                    raise ValueError(
                        "A DICOM SR needs DICOM images; this result was computed from an image "
                        "that is not DICOM."
                    )
                instance = self.instances[position]  # type: ignore[assignment]
                index = item.get("frame_index")
                frame = int(index) + 1 if index is not None and instance.frames > 1 else None
            images.append(SourceImage(instance.header, frame))
        return images

    @property
    def study_uid(self) -> str | None:
        studies = {i.study_uid for i in self.instances if i is not None}
        return studies.pop() if len(studies) == 1 else None

    @property
    def first(self) -> SourceInstance | None:
        return next((i for i in self.instances if i is not None), None)


def _read_header(source: bytes | str | PathLike[str]) -> Dataset | None:
    try:
        handle: Any = io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)
        return pydicom.dcmread(handle, stop_before_pixels=True)
    except (pydicom.errors.InvalidDicomError, OSError, ValueError, EOFError, TypeError):
        return None


def report_facts(result: AnalysisResult, rating: dict[str, Any] | None = None) -> ReportFacts:
    """What the exports say about `result` (plain data for `medgemma_ui.reports`)."""
    try:
        template = get_template(result.template_id)
        schema, label = template.schema, template.label
    except UnknownTemplateError:
        schema, label = {}, result.template_id
    impression, findings = finding_lines(result.parsed, schema)
    problems = tuple(plain_problem(e, schema, markdown=False) for e in result.errors)
    provenance = result.provenance.to_json()
    return ReportFacts(
        template_id=result.template_id,
        template_label=label,
        template_version=result.template_version,
        backend=result.backend,
        model=result.model,
        app_version=str(provenance.get("app_version", "")),
        analyzed_at=result.analyzed_at,
        impression=impression,
        findings=findings,
        valid=result.valid,
        problems=problems,
        provenance=provenance,
        image_jpeg=result.image_jpeg,
        images_sent=len(provenance.get("image_sha256") or []) or 1,
        modality=result.image_info.modality or "",
        rating=_rating(rating),
    )


def _rating(rating: dict[str, Any] | None) -> dict[str, Any] | None:
    if not rating:
        return None
    kept = {k: v for k, v in rating.items() if v not in (None, "", [], {})}
    return kept if kept.get("overall") else None


def build_sr_dataset(result: AnalysisResult, sources: SourceIndex) -> Dataset:
    """The DICOM SR for `result`, in the sources' study (ValueError with a sentence when the
    result was not computed from DICOM instances of one study)."""
    from medgemma_ui.reports.sr import build_sr

    return build_sr(report_facts(result), sources.images_sent(result))


def sr_bytes(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def build_fhir_bundle(result: AnalysisResult, sources: SourceIndex | None) -> dict[str, Any]:
    from medgemma_ui.reports.fhir import build_fhir

    first = sources.first if sources else None
    header = first.header if first else None
    return build_fhir(
        report_facts(result),
        study_uid=sources.study_uid if sources else None,
        patient_id=str(header.get("PatientID", "") or "") or None if header else None,
        patient_issuer=str(header.get("IssuerOfPatientID", "") or "") or None if header else None,
    )


def build_pdf_bytes(result: AnalysisResult, rating: dict[str, Any] | None = None) -> bytes:
    from medgemma_ui.reports.pdf import build_pdf

    return build_pdf(report_facts(result, rating))


def fhir_json(bundle: dict[str, Any]) -> bytes:
    return (json.dumps(bundle, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_atomically(path: Path, data: bytes) -> None:
    """`data` at `path`, whole or not at all (a temporary file in the same folder, renamed)."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


__all__ = [
    "SourceIndex",
    "SourceInstance",
    "build_fhir_bundle",
    "build_pdf_bytes",
    "build_sr_dataset",
    "fhir_json",
    "report_facts",
    "sr_bytes",
    "write_atomically",
]
