"""Pure UI helpers: image facts, warnings, validity statements, template suggestion."""

from __future__ import annotations

from types import SimpleNamespace

from medgemma_ui.templates import resolve_template_id, suggest_template
from medgemma_ui.ui.formatting import (
    facts_summary_markdown,
    image_facts_markdown,
    timings_markdown,
    warnings_markdown,
)
from medgemma_ui.ui.handlers.result_view import validity_sentence


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


def _result(valid: bool, data, errors, retries=0, finish_reason="stop", template_id="cxr"):
    findings = SimpleNamespace(valid=valid, data=data, errors=errors)
    return SimpleNamespace(
        final=SimpleNamespace(findings=findings, finish_reason=finish_reason),
        retries=retries,
        retry_error="",
        template_id=template_id,
        generation={"max_tokens": 256},
    )


def test_validity_is_one_plain_sentence_with_the_cause_and_what_to_do():
    assert validity_sentence(_result(True, {"a": 1}, [])).startswith("**Valid findings**")
    wrong = validity_sentence(
        _result(False, {"cardiac_size": "normal"}, ["$.impression: required key is missing"])
    )
    head, *problems = wrong.split("\n")
    assert head.startswith("**Not usable as it stands.**") and head.count(". ") <= 2
    assert problems and all(p.startswith("- ") for p in problems)
    assert "$." not in wrong and "impression" in wrong.lower()
    prose = validity_sentence(_result(False, None, ["The answer contains no JSON object"]))
    assert "\n" not in prose and "JSON" in prose
    cut = validity_sentence(_result(False, {"a": 1}, ["x"], finish_reason="length"))
    assert "256" in cut and "Max tokens" in cut
    retried = validity_sentence(_result(True, {"a": 1}, [], retries=1))
    assert "asked again once" in retried


def test_facts_summary_is_one_line_with_the_frame_counted_from_one():
    info = {
        "source_format": "dicom",
        "modality": "MR",
        "original_size": [64, 64],
        "frame_index": 1,
        "frame_count": 10,
        "window": "file",
    }
    line = facts_summary_markdown(info)
    assert "\n" not in line
    assert line.startswith("DICOM · MR · 64 × 64 px · frame 2 of 10")


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
    assert resolve_template_id("auto", {"source_format": "dicom", "modality": "CT"}) == "ct"
    assert resolve_template_id("auto", {"source_format": "png"}) == "general"
    assert resolve_template_id("derm", {"source_format": "dicom", "modality": "CT"}) == "derm"
