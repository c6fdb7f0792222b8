"""Pure UI helpers: image facts, warnings, validity statements."""

from __future__ import annotations

from types import SimpleNamespace

from medgemma_ui.imaging import ImageInfo
from medgemma_ui.ui.formatting import (
    facts_summary_markdown,
    image_facts_markdown,
    timings_markdown,
    warnings_markdown,
)
from medgemma_ui.ui.handlers.result_view import validity_sentence


def test_facts_show_non_identifying_fields_and_frames():
    info = ImageInfo(
        "dicom", (512, 512), modality="CT", window="lung", frame_index=4, frame_count=10
    )
    text = image_facts_markdown(info)
    assert "| Modality | CT |" in text
    assert "512 × 512 px" in text
    assert "Lung (W 1500 / L −600)" in text
    assert "| Frame | 5 of 10 |" in text
    assert "Body part" not in text  # absent facts are not shown as empty rows


def test_warnings_are_listed():
    warned = ImageInfo("png", (1, 1), warnings=("Burned-in annotation: text may be in pixels.",))
    assert "Burned-in annotation" in warnings_markdown(warned)
    assert warnings_markdown(ImageInfo("png", (1, 1))) == ""


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
    info = ImageInfo("dicom", (64, 64), modality="MR", frame_index=1, frame_count=10, window="file")
    line = facts_summary_markdown(info)
    assert "\n" not in line
    assert line.startswith("DICOM · MR · 64 × 64 px · frame 2 of 10")


def test_timings_in_seconds():
    assert timings_markdown({"prepare": 120.0, "total": 2500.0}) == (
        "**Timings:** prepare 0.12 s · total 2.50 s"
    )
    assert timings_markdown({}) == ""
