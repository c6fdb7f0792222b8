"""Feedback handlers: turn the clinician's ratings plus the analysis result into a stored record."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import gradio as gr

from medgemma_ui.analysis import AnalysisResult
from medgemma_ui.feedback import FeedbackRecord, finding_paths
from medgemma_ui.ui.services import Services

log = logging.getLogger(__name__)


def rateable_findings(result: AnalysisResult | None) -> list[tuple[str, str]]:
    """(label, path) pairs for the findings a clinician can mark."""
    if result is None:
        return []
    return [(f.label, f.path) for f in finding_paths(result.parsed)]


def build_record(
    result: AnalysisResult,
    *,
    record_id: str | None,
    overall: str | None,
    finding_ratings: dict[str, str],
    missed: str,
    corrected_impression: str,
    comment: str,
    reviewer: str,
    session_label: str,
    keep_image: bool,
) -> FeedbackRecord:
    known_paths = {path for _, path in rateable_findings(result)}
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
        finding_ratings={
            p: r for p, r in (finding_ratings or {}).items() if p in known_paths and r
        },
        missed_findings=(missed or "").strip(),
        corrected_impression=(corrected_impression or "").strip(),
        comment=(comment or "").strip(),
        timings_ms={k: float(v) for k, v in result.timings_ms.items()},
        image_jpeg=result.image_jpeg if keep_image and result.image_jpeg else None,
    )


async def save_feedback(
    result: AnalysisResult | None,
    record_id: str | None,
    overall: str | None,
    finding_ratings: dict[str, str] | None,
    missed: str,
    corrected_impression: str,
    comment: str,
    reviewer: str,
    session_label: str,
    services: Services,
) -> tuple[str, str]:
    """Save (or, until the next analysis, update) the rating. Returns (id, confirmation)."""
    if result is None:
        raise gr.Error("Analyse an image first; the rating is attached to that result.")
    texts = (missed, corrected_impression, comment)
    if not overall and not finding_ratings and not any((t or "").strip() for t in texts):
        raise gr.Error("Choose an overall rating, mark a finding or write a comment before saving.")
    try:
        record = build_record(
            result,
            record_id=record_id,
            overall=overall,
            finding_ratings=finding_ratings or {},
            missed=missed,
            corrected_impression=corrected_impression,
            comment=comment,
            reviewer=reviewer,
            session_label=session_label,
            keep_image=services.settings.feedback.keep_images,
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
