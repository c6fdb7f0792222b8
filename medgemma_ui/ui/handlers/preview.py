"""Preview handlers: prepare the uploaded file and show exactly what the model will receive.

A new file, frame or window is a new image: the result computed from the previous one is cleared
with it, so a rating can never be attached to an answer about another image.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import gradio as gr

from medgemma_ui.imaging import ImageError, PreparedImage
from medgemma_ui.imaging.series import is_archive, plan_series
from medgemma_ui.templates import (
    AUTO_TEMPLATE,
    Template,
    UnknownTemplateError,
    fallback_template,
    get_template,
    suggest_template,
)
from medgemma_ui.ui.formatting import (
    facts_summary_markdown,
    image_facts_markdown,
    warnings_markdown,
)
from medgemma_ui.ui.handlers.result_view import cleared_result
from medgemma_ui.ui.services import Services
from medgemma_ui.ui.window_labels import DEFAULT_WINDOW, window_argument, window_choices

log = logging.getLogger(__name__)


def _no_image(facts: str = "") -> dict[str, Any]:
    return {
        "preview": None,
        "facts_summary": facts,
        "facts": "",
        "warnings": "",
        "window": gr.update(visible=False, value=DEFAULT_WINDOW),
        "frame": gr.update(visible=False, value=0),
        "template": gr.skip(),
        "shown_image": None,
        **cleared_result(),
    }


def _image(image: PreparedImage, shown: str) -> dict[str, Any]:
    """The preview of `image` (`shown`: its PNG, `Services.shown`) and its facts and controls."""
    info = image.info
    choices = list(info.window_choices) if info.is_dicom else []
    count = info.frame_count
    return {
        "preview": shown,
        "facts_summary": facts_summary_markdown(info),
        "facts": image_facts_markdown(info),
        "warnings": warnings_markdown(info),
        "window": gr.update(
            choices=window_choices(choices) if choices else window_choices([DEFAULT_WINDOW]),
            value=info.window if choices else DEFAULT_WINDOW,
            visible=bool(choices),
        ),
        "frame": gr.update(
            minimum=1,
            maximum=max(count, 2),
            value=info.frame_index + 1,
            visible=count > 1,
            label=f"Frame (1–{count}; the middle one first)",
        ),
        "shown_image": {"sha256": image.sha256},
    }


def frame_index(frame: float | None) -> int | None:
    """The UI's and API's 1-based frame number as a 0-based index; 0 or none: the default."""
    if frame is None or int(frame) < 1:
        return None
    return int(frame) - 1


async def _prepare(path: str | bytes, window: str | None, frame: int | None, services: Services):
    try:
        return await services.prepare(path, window=window, frame=frame)
    except ImageError as exc:
        log.info("image refused: %s", exc)  # the message never holds a file name or tag
        gr.Warning(str(exc))
        return exc


async def preview_new_file(
    path: str | None, template: str | None, services: Services
) -> dict[str, Any]:
    """A new file: its preview, its controls, the template it points to; no result yet."""
    if not path:
        return _no_image()
    if is_archive(path):  # a ZIP of a series: previewed as the series
        return await preview_series([path], template, services)
    image = await _prepare(path, None, None, services)
    if isinstance(image, ImageError):
        return _no_image(f"**This file cannot be used.** {image}")
    suggested = suggest_template(image.info)
    if suggested is None and template in (None, "", AUTO_TEMPLATE):
        suggested = fallback_template().id
    chosen = _known_template(template)
    if chosen is not None and chosen.input != "image":
        suggested = None  # a chosen comparison, localisation or series stays chosen
    image = await _in_template_window(path, None, suggested or template, image, services)
    return {
        **_image(image, await services.shown(image)),
        "template": gr.skip() if suggested is None else suggested,
        **cleared_result(),
    }


# The inputs a study template takes besides the image, shown only when the template takes them.
STUDY_INPUTS = ("study_files", "series", "prior", "target")


def study_inputs(template_id: str | None) -> dict[str, Any]:
    """Show the series upload, the prior upload or the target for templates that take them."""
    template = _known_template(template_id)
    kind = template.input if template else "image"
    targets = list(template.targets) if template else []
    return {
        "study_files": gr.update(visible=kind == "series"),
        "series": gr.update(visible=kind == "series"),
        "prior": gr.update(visible=kind == "prior"),
        "target": gr.update(
            visible=kind == "target",
            choices=targets,
            value=targets[0] if kind == "target" and targets else "",
        ),
    }


def series_number(value: float | None) -> int | None:
    """The 1-based series choice; 0 or nothing: the only series."""
    return int(value) if value and int(value) > 0 else None


async def preview_series(
    paths: list[str] | None,
    template: str | None,
    services: Services,
    series: float | None = None,
) -> dict[str, Any]:
    """A series' files (of the chosen series when they hold several): its middle slice as it will
    be sent, how many slices go, and the series template its modality points to. The result on
    screen is cleared (another input)."""
    if not paths:
        return {"template": gr.skip()}
    try:
        plan = await asyncio.to_thread(
            plan_series,
            list(paths),
            services.settings.image_limits,
            choose=series_number(series),
        )
    except ImageError as exc:
        log.info("series refused: %s", exc)
        return _no_image(f"**This series cannot be used.** {exc}")
    middle = plan.slices[len(plan.slices) // 2]
    first = await _prepare(middle.source, None, middle.frame, services)
    if isinstance(first, ImageError):
        return _no_image(f"**This series cannot be used.** {first}")
    suggested = suggest_template(first.info, "series")
    chosen = template if template not in (None, "", AUTO_TEMPLATE) else suggested
    image = await _in_template_window(middle.source, middle.frame, chosen, first, services)
    summary = (
        f"Series: {plan.modality or '?'} · {plan.total} slices, {len(plan.slices)} will be "
        f"sent · slice {middle.index + 1} shown"
    )
    return {
        **_image(image, await services.shown(image)),
        "facts_summary": summary,
        "frame": gr.update(visible=False, value=0),
        "template": gr.skip()
        if template not in (None, "", AUTO_TEMPLATE) or not suggested
        else suggested,
        **cleared_result(),
    }


def _known_template(template_id: str | None) -> Template | None:
    """The chosen template, or None for "auto", nothing or an unknown id."""
    try:
        return get_template(template_id or "")
    except UnknownTemplateError:
        return None


async def _in_template_window(
    source: str | bytes,
    frame: int | None,
    template_id: str | None,
    image: PreparedImage,
    services: Services,
) -> PreparedImage:
    """The image in the template's own window when the template has one the image offers (it is
    the one shown and sent), else the image as it is."""
    template = _known_template(template_id)
    window = template.window_for(image.info.window_choices) if template else None
    if window is None or window == image.info.window:
        return image
    windowed = await _prepare(source, window, frame, services)
    return windowed if isinstance(windowed, PreparedImage) else image


async def preview_adjusted(
    path: str | None,
    window: str | None,
    frame: float | None,
    shown: dict | None,
    services: Services,
) -> dict[str, Any]:
    """Another window or frame: a new preview; the result is cleared only if the image changed."""
    if not path:
        return _no_image()
    image = await _prepare(path, window_argument(window), frame_index(frame), services)
    if isinstance(image, ImageError):
        return _no_image(f"**This file cannot be used.** {image}")
    same = bool(shown) and shown.get("sha256") == image.sha256  # type: ignore[union-attr]
    named = {**_image(image, await services.shown(image)), "template": gr.skip()}
    if not same:
        named.update(cleared_result())
    return named
