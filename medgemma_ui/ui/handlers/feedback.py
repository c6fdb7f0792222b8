"""Feedback handlers: turn the clinician's ratings plus the analysis result into a stored record."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from datetime import datetime
from typing import Any

import gradio as gr

from medgemma_ui.analysis import AnalysisResult
from medgemma_ui.boxes import iou
from medgemma_ui.feedback import FeedbackRecord, finding_paths
from medgemma_ui.ui.services import Services

log = logging.getLogger(__name__)


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def value_at(parsed: Any, path: str) -> Any:
    """The value a finding path (`pulmonary_findings[0]`, `a.b`) points to, or None."""
    value = parsed
    for key, index in _PATH_PART.findall(path):
        if key and isinstance(value, dict):
            value = value.get(key)
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return None
    return value


def finding_text(value: Any) -> str:
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def rateable_findings(result: AnalysisResult | None) -> list[tuple[str, str, str]]:
    """(title, path, text) of each finding a clinician can accept, reject or correct."""
    if result is None:
        return []
    out = []
    for finding in finding_paths(result.parsed):
        title = finding.label.split(": ", 1)[0]
        out.append((title, finding.path, finding_text(value_at(result.parsed, finding.path))))
    return out


def added_findings(text: str | None) -> list[str]:
    """One missed finding per line, blank lines ignored."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def build_record(
    result: AnalysisResult,
    *,
    record_id: str | None,
    overall: str | None,
    finding_ratings: dict[str, str],
    finding_corrections: dict[str, str],
    added: str,
    corrected_impression: str,
    comment: str,
    reviewer: str,
    session_label: str,
    keep_image: bool,
    box_correction: str = "",
) -> FeedbackRecord:
    known = {path: text for _, path, text in rateable_findings(result)}
    ratings = {p: r for p, r in (finding_ratings or {}).items() if p in known and r}
    corrections = {
        p: t.strip()
        for p, t in (finding_corrections or {}).items()
        if ratings.get(p) == "modify" and t and t.strip() and t.strip() != known[p]
    }
    corrected_box = box_correction_of(result, box_correction)
    if corrected_box is not None:
        corrections[BOX_PATH] = json.dumps(corrected_box)
        ratings[BOX_PATH] = "modify"
    return FeedbackRecord(
        id=record_id or "",
        session_label=(session_label or "").strip(),
        reviewer=(reviewer or "").strip(),
        image_sha256=result.image_sha256,
        template_id=result.template_id,
        template_version=result.template_version,
        backend=result.backend,
        model=result.model,
        generation=dict(result.generation),
        raw_answers=result.raw_answers,
        parsed=result.parsed,
        valid=result.valid,
        parse_errors=result.errors,
        overall_rating=overall or None,
        finding_ratings=ratings,
        finding_corrections=corrections,
        added_findings=added_findings(added),
        corrected_impression=(corrected_impression or "").strip(),
        comment=(comment or "").strip(),
        timings_ms={k: float(v) for k, v in result.timings_ms.items()},
        provenance=result.provenance.to_json(),
        image_jpeg=result.image_jpeg if keep_image and result.image_jpeg else None,
    )


# A localisation's first box: its correction is stored under this finding path, as the JSON text
# {"label", "model_xyxy", "corrected_xyxy", "iou"} (pixels of the original image).
BOX_PATH = "boxes[0]"


def box_correction_of(result: AnalysisResult, text: str) -> dict[str, Any] | None:
    """The clinician's corrected box (x0, y0, x1, y1) against the model's, with their overlap;
    None when there is no box or the numbers are the model's. ValueError for bad numbers."""
    boxes = result.boxes
    if not boxes or not (text or "").strip():
        return None
    try:
        numbers = [float(v) for v in text.replace(";", ",").split(",")]
    except ValueError:
        raise ValueError("the corrected box must be four numbers: x0, y0, x1, y1.") from None
    width, height = result.image_info.original_size
    if len(numbers) != 4:
        raise ValueError("the corrected box must be four numbers: x0, y0, x1, y1.")
    x0, y0, x1, y1 = numbers
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise ValueError(
            f"the corrected box must lie inside the image (0–{width} × 0–{height} pixels), "
            "with x0 < x1 and y0 < y1."
        )
    model = list(boxes[0].xyxy)
    if [round(v, 1) for v in numbers] == model:
        return None
    return {
        "label": boxes[0].label,
        "model_xyxy": model,
        "corrected_xyxy": numbers,
        "iou": iou(model, numbers),
    }


def check_bound(result: AnalysisResult | None, shown_image: dict | None) -> None:
    """A rating is for the result on screen, computed from the image on screen (by hash)."""
    if result is None:
        raise gr.Error("There is no result to rate: analyze an image first.")
    if not shown_image or shown_image.get("sha256") != result.image_sha256:
        raise gr.Error(
            "The image on screen is not the one this result was computed from, so the rating "
            "was not saved. Press Analyze to get a result for this image, then rate it."
        )


async def _rates_this_result(record_id: str, result: AnalysisResult, services: Services) -> bool:
    """Whether the stored rating `record_id` is of this very result: the same provenance (which
    names the second it was analysed in) and the same measured timings (two analyses within one
    second do not take the same microseconds)."""
    stored = await asyncio.to_thread(services.feedback_store.get, record_id, with_image=False)
    current = json.loads(json.dumps(result.provenance.to_json()))  # as stored (lists, not tuples)
    timings = {k: float(v) for k, v in result.timings_ms.items()}
    return stored is not None and stored.provenance == current and stored.timings_ms == timings


async def save_feedback(
    result: AnalysisResult | None,
    shown_image: dict | None,
    record_id: str | None,
    overall: str | None,
    finding_ratings: dict[str, str] | None,
    finding_corrections: dict[str, str] | None,
    added: str,
    corrected_impression: str,
    comment: str,
    reviewer: str,
    session_label: str,
    services: Services,
    *,
    box_correction: str = "",
) -> tuple[str, str]:
    """Save (or, until the next analysis, update) the rating. Returns (id, confirmation)."""
    check_bound(result, shown_image)
    assert result is not None
    texts = (added, corrected_impression, comment, box_correction)
    if not overall and not finding_ratings and not any((t or "").strip() for t in texts):
        raise gr.Error(
            "Choose an overall rating, review a finding or write a comment before saving."
        )
    if record_id and not await _rates_this_result(record_id, result, services):
        # The page resets the id when Analyze is pressed, but an API client that analyses again
        # in the same session still holds the previous rating's id: that rating must not be
        # overwritten by a rating of another result (issue 17: nothing confirmed is lost).
        record_id = None
    try:
        record = build_record(
            result,
            record_id=record_id,
            overall=overall,
            finding_ratings=finding_ratings or {},
            finding_corrections=finding_corrections or {},
            added=added,
            corrected_impression=corrected_impression,
            comment=comment,
            reviewer=reviewer,
            session_label=session_label,
            keep_image=services.settings.feedback.keep_images,
            box_correction=box_correction,
        )
    except ValueError as exc:
        raise gr.Error(f"This rating cannot be saved: {exc}") from None
    try:
        saved_id = await asyncio.to_thread(services.feedback_store.save, record)
    except Exception:
        log.exception("feedback could not be saved")
        raise gr.Error(
            "The rating could not be saved on the server; please try again, and tell the session "
            "organiser if it keeps failing."
        ) from None
    verb = "updated" if record_id else "saved"
    when = datetime.now().strftime("%H:%M:%S")
    return saved_id, (
        f"**Rating {verb}** at {when} (reference `{saved_id[:8]}`). "
        "You can change it and save again until the next analysis."
    )
