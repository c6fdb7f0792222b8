"""The analyze handler: prepare → stream the model's answer → report, findings and provenance.

It is an async generator so tokens reach the browser as they arrive, and Stop (a Gradio cancel)
raises `CancelledError` inside it, which closes the backend's HTTP stream. Its first update shows
the image it is about to send, so the preview is always the model's input.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import gradio as gr

from medgemma_ui.analysis import (
    AnalysisRequest,
    AnalysisResult,
    Done,
    Prepared,
    Progress,
    Token,
)
from medgemma_ui.analysis import analyze as run_analyze
from medgemma_ui.backends import BackendError
from medgemma_ui.imaging import ImageError
from medgemma_ui.templates import AUTO_TEMPLATE, get_template
from medgemma_ui.ui.handlers.preview import frame_index, series_number
from medgemma_ui.ui.handlers.result_view import (
    boxes_outputs,
    empty_result,
    result_outputs,
    study_views,
)
from medgemma_ui.ui.services import Services
from medgemma_ui.ui.window_labels import window_argument

log = logging.getLogger(__name__)

# Coalesce token updates: 10 a second reads smoothly and costs each user less CPU than 20;
# the first one goes at once.
STREAM_INTERVAL_S = 0.1

NOT_SET_UP = (
    "The {label} backend is not set up on this server. Choose a backend marked ready, or ask "
    "the person who runs this app to set this one up."
)


def _streaming(raw: str, status: str) -> dict[str, Any]:
    """An update while the answer streams: only the raw text and the status change."""
    return {"raw": raw, "status": status}


def _images(inputs: dict[str, Any]) -> list[str]:
    """A series' files when given (else the one upload, e.g. a multi-frame file); the prior
    before the current image when a prior is given."""
    template = inputs.get("template") or AUTO_TEMPLATE
    kind = None if template == AUTO_TEMPLATE else get_template(template).input
    study = [p for p in inputs.get("study_paths") or [] if p]
    if study and kind in (None, "series"):
        return study
    if kind == "prior":
        prior = inputs.get("prior_path")
        if not prior:
            raise _Failure("Upload the prior image too: the template compares two examinations.")
        return [prior, inputs["file_path"]]
    return [inputs["file_path"]]


def _request(inputs: dict[str, Any], services: Services) -> AnalysisRequest:
    """The request from the page's (or the API's) inputs, given by name."""
    return AnalysisRequest.build(
        _images(inputs),
        services.settings.generation,
        template=inputs["template"],
        target=inputs.get("target") or None,
        series=series_number(inputs.get("series")),
        prompt=inputs["prompt"],
        window=window_argument(inputs["window"]),
        frame=frame_index(inputs["frame"]),
        max_tokens=inputs["max_tokens"],
        temperature=inputs["temperature"],
        retries=inputs["retries"],
        structured=bool(inputs["structured"]),
    )


class _Failure(Exception):
    """A sentence for the user; shown in the status line and as the error."""


async def analyze(
    inputs: dict[str, Any], services: Services, progress: Any = None
) -> AsyncIterator[dict[str, Any]]:
    """Yields `{output name: value}` updates; raises `gr.Error` with one sentence on failure."""
    try:
        async for update in _analyze(inputs, services, progress):
            yield update
    except _Failure as failure:
        yield {"status": f"**Not analyzed.** {failure}"}
        raise gr.Error(str(failure), print_exception=False) from None


async def _analyze(
    inputs: dict[str, Any], services: Services, progress: Any
) -> AsyncIterator[dict[str, Any]]:
    if not inputs["file_path"] and not inputs.get("study_paths"):
        raise _Failure("Upload an image or DICOM file first, or pick one of the examples.")
    try:
        request = _request(inputs, services)
    except (KeyError, ValueError) as exc:
        raise _Failure(str(exc).strip("'\"")) from None
    backend_name = inputs["backend"] or services.registry.default_name()
    try:
        backend = services.registry.get(backend_name)
    except BackendError as exc:
        raise _Failure(str(exc)) from None
    if not backend.configured:
        raise _Failure(NOT_SET_UP.format(label=backend.label))

    raw_parts: list[str] = []
    attempt_seen = 1
    last_emit = 0.0
    result: AnalysisResult | None = None
    image = None
    sent: Prepared | None = None
    shown: str | None = None  # the PNG of the image on screen
    pair: list[str] = []  # a prior and current pair's PNGs
    events = run_analyze(
        request, backend, preparer=services.prepare, backend_slot=services.gate(backend_name)
    )
    try:
        async for event in events:
            if isinstance(event, Token):
                if event.attempt != attempt_seen:
                    attempt_seen = event.attempt
                    raw_parts.append(f"\n\n── retry {event.attempt - 1} ──\n")
                raw_parts.append(event.text)
                now = time.perf_counter()
                if last_emit == 0.0 or now - last_emit >= STREAM_INTERVAL_S:
                    last_emit = now
                    yield _streaming("".join(raw_parts), "Model is answering…")
            elif isinstance(event, Prepared):
                sent = event
                # The image about to be sent is the one on screen, whatever the preview showed
                # (the current one of a pair; a series' first slice), and a study's images too.
                image = event.images[-1] if event.template.input == "prior" else event.images[0]
                what = "images" if len(event.images) > 1 else "image"
                # Each full-size image is written as a PNG once and that file shown every time.
                shown = await services.shown(image)
                if event.template.input == "prior":
                    pair = [await services.shown(i) for i in event.images]
                yield {
                    **empty_result(f"Sending the {what} to {backend.label}…"),
                    **study_views(event.images, event.template, pair),
                    "preview": shown,
                    "shown_image": {"sha256": image.sha256},
                }
            elif isinstance(event, Progress):
                if progress is not None:
                    progress(0.05 if event.stage == "preparing" else None, desc=event.message)
                yield _streaming("".join(raw_parts), event.message)
            elif isinstance(event, Done):
                result = event.result
    except ImageError as exc:
        raise _Failure(str(exc)) from None
    except ValueError as exc:  # e.g. a template that takes another kind of input
        raise _Failure(str(exc)) from None
    except BackendError as exc:
        log.warning("backend %s failed: %s", backend_name, exc.kind)
        raise _Failure(str(exc)) from None
    if result is None or image is None or sent is None or shown is None:
        raise _Failure("The analysis ended without a result; please try again.")
    shown_raw = "".join(raw_parts) if result.retries else result.raw
    # The last update holds everything (an API client reads only the last one).
    yield {
        **result_outputs(result, shown_raw),
        **study_views(sent.images, sent.template, pair),
        **boxes_outputs(result, shown),
        "preview": shown,
    }
