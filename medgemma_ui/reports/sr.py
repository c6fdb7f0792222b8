"""A result as a DICOM Comprehensive SR following TID 1500 (Measurement Report), with highdicom.

What it holds (IHE AI Results):
- the source study: patient and study modules copied from the first source instance, the SR in
  that study (a new series), every instance sent to the model listed as evidence;
- the model as the observer device (Device Observer UID derived from backend and model, name,
  manufacturer, model name, the backend as its location);
- one measurement group (TID 1501) whose Algorithm Identification (TID 4019) names MedGemma, the
  model version and the provenance as parameters, referencing each source image (and frame);
- a "Qualitative Evaluations" container (TID 1500 row 12) holding each finding as a TEXT
  "Finding" (DCM 121071), the impression as "Impression" (DCM 121073), and the disclaimer and
  any validity problems as "Comment" (DCM 121106).

The document is UNVERIFIED and PARTIAL-free (COMPLETE): an AI result no clinician has signed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import highdicom as hd
from highdicom.sr import CodedConcept
from pydicom import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from medgemma_ui.reports.facts import ReportFacts

FINDING = CodedConcept("121071", "DCM", "Finding")
IMPRESSION = CodedConcept("121073", "DCM", "Impression")
COMMENT = CodedConcept("121106", "DCM", "Comment")
QUALITATIVE_EVALUATIONS = CodedConcept("C0034375", "UMLS", "Qualitative Evaluations")
IMAGING_PROCEDURE = CodedConcept("363679005", "SCT", "Imaging procedure")
SERIES_NUMBER = 9901
SERIES_DESCRIPTION = "MedGemma AI findings (unverified)"
_MANDATORY_STUDY = (
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
)
# Everything of a source instance the SR needs: identity, patient and study modules.
SOURCE_KEYWORDS = (
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SpecificCharacterSet",
    "Modality",
    "NumberOfFrames",
    "IssuerOfPatientID",
    "PatientAge",
    *_MANDATORY_STUDY,
)


@dataclass(frozen=True)
class SourceImage:
    """One image sent to the model: its source instance's header and, for a multi-frame file,
    the 1-based frame number sent."""

    header: Dataset
    frame_number: int | None = None


def source_header(dataset: Dataset) -> Dataset:
    """The attributes of `dataset` that the SR copies or references (no pixel data)."""
    header = Dataset()
    for keyword in SOURCE_KEYWORDS:
        if keyword in dataset:
            setattr(header, keyword, dataset.data_element(keyword).value)  # type: ignore[union-attr]
    for keyword in _MANDATORY_STUDY:  # type 2 in the SR: present, possibly empty
        if keyword not in header:
            setattr(header, keyword, "")
    return header


def device_uid(backend: str, model: str) -> str:
    """A stable UID for the model behind a backend (the SR's Device Observer UID)."""
    return str(generate_uid(entropy_srcs=["medgemma_ui device", backend, model]))


def _parameters(facts: ReportFacts) -> list[str]:
    provenance = dict(facts.provenance)
    provenance.pop("prompt", None)  # the prompt is identified by its SHA-256
    return [
        f"template={facts.template_id} {facts.template_version}",
        f"backend={facts.backend}",
        f"app_version={facts.app_version}",
        f"analyzed_at={facts.analyzed_at}",
        "provenance=" + json.dumps(provenance, sort_keys=True, ensure_ascii=False),
    ]


def _evaluations(facts: ReportFacts) -> hd.sr.ContainerContentItem:
    container = hd.sr.ContainerContentItem(
        name=QUALITATIVE_EVALUATIONS,
        relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
    )
    contains = hd.sr.RelationshipTypeValues.CONTAINS
    items: list[hd.sr.TextContentItem] = []
    if facts.impression:
        items.append(hd.sr.TextContentItem(IMPRESSION, facts.impression, contains))
    for finding in facts.findings:
        items.append(hd.sr.TextContentItem(FINDING, f"{finding.section}: {finding.text}", contains))
    if not facts.valid:
        problems = "; ".join(facts.problems) or "the answer did not match the template"
        items.append(
            hd.sr.TextContentItem(COMMENT, f"The answer is not valid: {problems}", contains)
        )
    items.append(hd.sr.TextContentItem(COMMENT, facts.disclaimer, contains))
    container.ContentSequence = hd.sr.ContentSequence(items)
    return container


def build_sr(
    facts: ReportFacts,
    sources: Sequence[SourceImage],
    *,
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
) -> hd.sr.ComprehensiveSR:
    """The SR for `facts`, in the study of `sources` (the images sent, in order; at least one,
    all DICOM, all of one study)."""
    if not sources:
        raise ValueError("A DICOM SR needs the DICOM images the result was computed from.")
    studies = {str(s.header.StudyInstanceUID) for s in sources}
    if len(studies) != 1:
        raise ValueError("The images sent come from several studies; an SR belongs to one.")
    evidence: list[Dataset] = []
    seen: set[str] = set()
    for source in sources:
        uid = str(source.header.SOPInstanceUID)
        if uid not in seen:
            seen.add(uid)
            evidence.append(source.header)
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=device_uid(facts.backend, facts.model),
        name="MedGemma",
        manufacturer_name="Google",
        model_name=facts.model[:64] or "unknown",
        physical_location=f"backend {facts.backend}"[:64],
    )
    context = hd.sr.ObservationContext(
        observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Device, observer_identifying_attributes=device
        )
    )
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=generate_uid(), identifier=f"MedGemma {facts.template_label} findings"[:64]
        ),
        algorithm_id=hd.sr.AlgorithmIdentification(
            name="MedGemma",
            version=facts.model[:64] or "unknown",
            parameters=_parameters(facts),
            manufacturer="Google",
        ),
        source_images=[
            hd.sr.SourceImageForMeasurementGroup(
                referenced_sop_class_uid=str(s.header.SOPClassUID),
                referenced_sop_instance_uid=str(s.header.SOPInstanceUID),
                referenced_frame_numbers=[s.frame_number] if s.frame_number else None,
            )
            for s in sources
        ],
    )
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=IMAGING_PROCEDURE,
        imaging_measurements=[group],
    )
    report[0].ContentSequence.append(_evaluations(facts))
    return hd.sr.ComprehensiveSR(
        evidence=evidence,
        content=report[0],
        series_instance_uid=series_instance_uid or generate_uid(),
        series_number=SERIES_NUMBER,
        sop_instance_uid=sop_instance_uid or generate_uid(),
        instance_number=1,
        manufacturer="medgemma_ui",
        is_complete=True,
        is_final=False,
        is_verified=False,
        series_description=SERIES_DESCRIPTION,
        software_versions=f"medgemma_ui {facts.app_version}",
    )
