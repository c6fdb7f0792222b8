"""Pure UI helpers: image facts, warnings, validity statements, template suggestion."""

from __future__ import annotations

from types import SimpleNamespace

from medgemma_ui.ui.formatting import (
    image_facts_markdown,
    timings_markdown,
    validity_markdown,
    warnings_markdown,
)
from medgemma_ui.ui.handlers.preview import suggest_template


def test_facts_show_non_identifying_fields_and_frames():
    info = {
        "source_format": "dicom",
        "modality": "CT",
        "original_size": [512, 512],
        "window": "lung",
        "frame_index": 4,
        "frame_count": 10,
        "warnings": [],
    }
    text = image_facts_markdown(info)
    assert "| Modality | CT |" in text
    assert "512 × 512 px" in text
    assert "Lung (W 1500 / L −600)" in text
    assert "| Frame | 5 of 10 |" in text
    assert "Body part" not in text  # absent facts are not shown as empty rows


def test_warnings_are_listed():
    text = warnings_markdown({"warnings": ["Burned-in annotation: text may be in the pixels."]})
    assert "Burned-in annotation" in text
    assert warnings_markdown({}) == ""


def _result(valid: bool, data, errors, retries=0, repaired=False, structured=False):
    findings = SimpleNamespace(valid=valid, data=data, errors=errors, repaired=repaired)
    return SimpleNamespace(
        final=SimpleNamespace(findings=findings), retries=retries, structured_output=structured
    )


def test_validity_statements_are_plain():
    assert "Valid findings" in validity_markdown(_result(True, {"a": 1}, []))
    assert "after repair" in validity_markdown(_result(True, {"a": 1}, [], repaired=True))
    invalid = validity_markdown(_result(False, {"a": 1}, ["$.b: required key is missing"]))
    assert "Not valid for this template" in invalid and "$.b: required key" in invalid
    assert "1 problem." in invalid
    none = validity_markdown(_result(False, None, ["The answer contains no JSON object"]))
    assert "No findings could be read" in none
    retried = validity_markdown(_result(True, {"a": 1}, [], retries=1, structured=True))
    assert "asked again (1 retry)" in retried and "JSON schema" in retried


def test_timings_in_seconds():
    assert timings_markdown({"prepare": 120.0, "total": 2500.0}) == (
        "**Timings:** prepare 0.12 s · total 2.50 s"
    )
    assert timings_markdown({}) == ""


def test_template_suggested_from_dicom_modality_only():
    assert suggest_template({"source_format": "dicom", "modality": "CT"}) == "ct"
    assert suggest_template({"source_format": "dicom", "modality": "MR"}) == "mri"
    chest = {"source_format": "dicom", "modality": "CR", "body_part": "CHEST"}
    assert suggest_template(chest) == "cxr"
    leg = {"source_format": "dicom", "modality": "CR", "body_part": "LEG"}
    assert suggest_template(leg) is None
    assert suggest_template({"source_format": "png", "modality": "CT"}) is None
