"""The analyze handler: prepare → stream the model's answer → parsed findings.

It is an async generator so tokens reach the browser as they arrive, and Stop (a Gradio cancel)
raises `CancelledError` inside it, which closes the backend's HTTP stream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import gradio as gr

from medgemma_ui.analysis import (
    AnalysisOptions,
    AnalysisResult,
    Done,
    Progress,
    Token,
    run_analysis,
)
from medgemma_ui.backends import BackendError
from medgemma_ui.imaging import ImageError
from medgemma_ui.templates import get_template
from medgemma_ui.ui.formatting import timings_markdown, validity_markdown
from medgemma_ui.ui.services import Services

log = logging.getLogger(__name__)

# Coalesce token updates: 10 a second reads smoothly and costs each user less CPU than 20;
# the first one goes at once.
STREAM_INTERVAL_S = 0.1


def _streaming(raw: str, status: str) -> tuple:
    """An update while the answer streams. Plain values, not `gr.skip()`: Gradio builds a whole
    component config for every skip on every yield, which dominated CPU with many users."""
    return (raw, None, "", status, "", None)


def _options(
    template_id: str,
    prompt: str | None,
    max_tokens: float,
    temperature: float,
    structured: bool,
    retries: float,
    window: str | None,
    frame: float | None,
) -> AnalysisOptions:
    template = get_template(template_id)
    edited = (
        prompt is not None and prompt.strip() and prompt.strip() != template.build_prompt().strip()
    )
    return AnalysisOptions(
        template_id=template_id,
        max_tokens=int(max_tokens),
        temperature=float(temperature),
        prompt_override=prompt if edited else None,
        parse_retries=int(retries),
        structured_output=bool(structured),
        window=window or None,
        frame=None if frame is None else int(frame),
    )


async def analyze(
    file_path: str | None,
    window: str | None,
    frame: float | None,
    backend_name: str,
    template_id: str,
    prompt: str | None,
    max_tokens: float,
    temperature: float,
    structured: bool,
    retries: float,
    services: Services,
    progress: Any = None,
) -> AsyncIterator[tuple]:
    """Yields (raw, parsed, validity, status, timings, result) tuples."""
    if not file_path:
        raise gr.Error("Upload an image or DICOM file first, or pick one of the examples.")
    try:
        options = _options(
            template_id, prompt, max_tokens, temperature, structured, retries, window, frame
        )
    except (KeyError, ValueError) as exc:
        raise gr.Error(str(exc).strip("'\"")) from None
    started = time.perf_counter()
    if progress is not None:
        progress(0.05, desc="Preparing the image")
    try:
        image = await services.prepare(file_path, window=options.window, frame=options.frame)
    except ImageError as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    prepare_ms = (time.perf_counter() - started) * 1000.0

    raw_parts: list[str] = []
    attempt_seen = 1
    last_emit = 0.0
    result: AnalysisResult | None = None
    try:
        backend = services.registry.get(backend_name)
        async with services.gate(backend_name) as waited:
            if waited:
                log.info("waited for a free slot on %s", backend_name)
            yield _streaming("", f"Sending the image to {backend.label}…")
            async for event in run_analysis(image, options, backend):
                if isinstance(event, Token):
                    if event.attempt != attempt_seen:
                        attempt_seen = event.attempt
                        raw_parts.append(f"\n\n── retry {event.attempt - 1} ──\n")
                    raw_parts.append(event.text)
                    now = time.perf_counter()
                    if last_emit == 0.0 or now - last_emit >= STREAM_INTERVAL_S:
                        last_emit = now
                        yield _streaming("".join(raw_parts), "Model is answering…")
                elif isinstance(event, Progress):
                    if progress is not None:
                        progress(None, desc=event.message)
                    yield _streaming("".join(raw_parts), event.message)
                elif isinstance(event, Done):
                    result = event.result
    except BackendError as exc:
        log.warning("backend %s failed: %s", backend_name, exc.kind)
        raise gr.Error(str(exc), print_exception=False) from None
    if result is None:
        raise gr.Error("The analysis ended without a result; please try again.")
    result.timings_ms = {"prepare": prepare_ms, **result.timings_ms}
    shown_raw = "".join(raw_parts) if result.retries else result.raw
    yield (
        shown_raw,
        result.parsed,
        validity_markdown(result),
        f"Done · {result.backend} · model `{result.model}`",
        timings_markdown(result.timings_ms),
        result,
    )
