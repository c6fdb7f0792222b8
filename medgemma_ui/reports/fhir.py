"""A result as FHIR R4: a Bundle (type collection) of one DiagnosticReport, one Observation per
finding, the model as a Device and a Provenance, validated by `fhir.resources`.

`fhir.resources` 8 ships the R5, R4B and STU3 models; the R4B models are used, whose
DiagnosticReport, Observation, Device and Provenance are the R4 (4.0.1) resources unchanged.

Following the HL7 "AI Transparency on FHIR" guide, every resource the model asserted carries
`meta.security` AIAST ("artificial intelligence asserted"); the Observations name the model as
their `device`; the report and the Observations are linked to the imaging study by its Study
Instance UID (a logical reference: identifier `urn:dicom:uid` / `urn:oid:<uid>`).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from medgemma_ui.reports.facts import ReportFacts

AIAST = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "AIAST",
    "display": "Artificial Intelligence asserted",
}
DCM = "http://dicom.nema.org/resources/ontology/DCM"
PROVENANCE_EXTENSION = "urn:medgemma-ui:analysis-provenance"


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _study_reference(study_uid: str) -> dict[str, Any]:
    return {
        "type": "ImagingStudy",
        "identifier": {"system": "urn:dicom:uid", "value": f"urn:oid:{study_uid}"},
    }


def build_fhir(
    facts: ReportFacts,
    *,
    study_uid: str | None = None,
    patient_id: str | None = None,
    patient_issuer: str | None = None,
) -> dict[str, Any]:
    """The Bundle as JSON-ready data, validated against the R4(B) models (ValueError if not)."""
    from fhir.resources.R4B.bundle import Bundle

    security = {"security": [AIAST]}
    device_ref, report_ref = _urn(), _urn()
    study = [_study_reference(study_uid)] if study_uid else []
    subject: dict[str, Any] = {}
    if patient_id:
        identifier = {"value": patient_id}
        if patient_issuer:
            identifier["system"] = f"urn:dicom:issuer:{patient_issuer}"
        subject = {"subject": {"type": "Patient", "identifier": identifier}}
    device = {
        "resourceType": "Device",
        "deviceName": [{"name": "MedGemma", "type": "model-name"}],
        "manufacturer": "Google",
        "modelNumber": facts.model[:200] or "unknown",
        "version": [{"value": facts.model or "unknown"}],
        "type": {"text": "AI model (large multimodal language model)"},
        "note": [
            {"text": f"Served by the {facts.backend} backend of medgemma_ui {facts.app_version}."}
        ],
    }
    observations: list[tuple[str, dict[str, Any]]] = []
    for finding in facts.findings:
        observations.append(
            (
                _urn(),
                {
                    "resourceType": "Observation",
                    "meta": security,
                    "status": "preliminary",
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "observation-category",
                                    "code": "imaging",
                                    "display": "Imaging",
                                }
                            ]
                        }
                    ],
                    "code": {
                        "coding": [{"system": DCM, "code": "121071", "display": "Finding"}],
                        "text": finding.section,
                    },
                    **subject,
                    "issued": facts.analyzed_at,
                    "valueString": finding.text,
                    "device": {"reference": device_ref, "display": "MedGemma"},
                    **({"derivedFrom": study} if study else {}),
                    "note": [{"text": facts.disclaimer}],
                },
            )
        )
    conclusion = facts.impression or "No impression was given."
    if not facts.valid:
        conclusion += (
            " (The answer did not match the template: "
            + ("; ".join(facts.problems) or "see the findings")
            + ".)"
        )
    report = {
        "resourceType": "DiagnosticReport",
        "meta": security,
        "status": "preliminary",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                        "code": "RAD",
                        "display": "Radiology",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {
                    "system": "http://loinc.org",
                    "code": "18748-4",
                    "display": "Diagnostic imaging study",
                }
            ],
            "text": f"MedGemma {facts.template_label} findings (AI, unverified)",
        },
        **subject,
        "issued": facts.analyzed_at,
        **({"imagingStudy": study} if study else {}),
        "result": [{"reference": ref} for ref, _ in observations],
        "conclusion": f"{conclusion} {facts.disclaimer}",
    }
    provenance_data = dict(facts.provenance)
    provenance_data.pop("prompt", None)
    provenance = {
        "resourceType": "Provenance",
        "target": [{"reference": report_ref}] + [{"reference": ref} for ref, _ in observations],
        "recorded": facts.analyzed_at,
        "agent": [
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/"
                            "provenance-participant-type",
                            "code": "author",
                            "display": "Author",
                        }
                    ]
                },
                "who": {"reference": device_ref, "display": "MedGemma"},
            }
        ],
        **(
            {"entity": [{"role": "source", "what": _study_reference(str(study_uid))}]}
            if study_uid
            else {}
        ),
        "extension": [
            {
                "url": PROVENANCE_EXTENSION,
                "valueString": json.dumps(provenance_data, sort_keys=True, ensure_ascii=False),
            }
        ],
    }
    entries = [
        (report_ref, report),
        *observations,
        (device_ref, device),
        (_urn(), provenance),
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": facts.analyzed_at,
        "entry": [{"fullUrl": ref, "resource": resource} for ref, resource in entries],
    }
    try:
        validated = Bundle.model_validate(bundle)
    except Exception as exc:  # pydantic's ValidationError: the FHIR models refuse it
        raise ValueError(f"The FHIR report is not valid R4: {exc}") from exc
    return json.loads(validated.model_dump_json())
