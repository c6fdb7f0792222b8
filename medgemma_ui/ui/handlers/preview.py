"""Preview handlers: prepare the uploaded file and show exactly what the model will receive."""

from __future__ import annotations

import logging

import gradio as gr

from medgemma_ui.imaging import ImageError, PreparedImage
from medgemma_ui.ui.formatting import image_facts_markdown, warnings_markdown
from medgemma_ui.ui.services import Services
from medgemma_ui.ui.window_labels import window_choices

log = logging.getLogger(__name__)

EMPTY = (
    None,
    "",
    "",
    gr.update(visible=False, choices=[], value=None),
    gr.update(visible=False),
    gr.skip(),
)

_CHEST = ("CHEST", "THORAX", "LUNG")


def suggest_template(info: dict) -> str | None:
    """The template a DICOM's own modality points to, when the match is unambiguous."""
    if info.get("source_format") != "dicom":
        return None
    modality = str(info.get("modality") or "").upper()
    body_part = str(info.get("body_part") or "").upper()
    if modality == "CT":
        return "ct"
    if modality == "MR":
        return "mri"
    if modality in {"CR", "DX", "DR"} and any(word in body_part for word in _CHEST):
        return "cxr"
    if modality == "OP":
        return "fundus"
    if modality == "SM":
        return "pathology"
    if modality == "US":
        return "general"
    return None


def _outputs(image: PreparedImage) -> tuple:
    info = image.info
    is_dicom = info.get("source_format") == "dicom"
    choices = list(info.get("window_choices") or []) if is_dicom else []
    window_update = gr.update(
        choices=window_choices(choices),
        value=info.get("window") if choices else None,
        visible=bool(choices),
    )
    count = int(info.get("frame_count") or 1)
    frame_update = gr.update(
        minimum=0,
        maximum=max(count - 1, 1),
        value=int(info.get("frame_index") or 0),
        visible=count > 1,
        label=f"Frame (0–{count - 1}, default the middle one)",
    )
    return (
        image.image,
        image_facts_markdown(info),
        warnings_markdown(info),
        window_update,
        frame_update,
    )


def _refused(message: str) -> tuple:
    return (None, f"**This file cannot be used.** {message}", *EMPTY[2:])


async def _preview(
    path: str | None,
    window: str | None,
    frame: int | None,
    services: Services,
    *,
    pick_template: bool = False,
) -> tuple:
    if not path:
        return EMPTY
    try:
        image = await services.prepare(path, window=window, frame=frame)
    except ImageError as exc:
        log.info("image refused: %s", exc)  # the message never holds a file name or tag
        gr.Warning(str(exc))
        return _refused(str(exc))
    template = suggest_template(image.info) if pick_template else None
    return (*_outputs(image), gr.skip() if template is None else template)


async def preview_new_file(path: str | None, services: Services) -> tuple:
    return await _preview(path, None, None, services, pick_template=True)


async def preview_adjusted(
    path: str | None, window: str | None, frame: float | None, services: Services
) -> tuple:
    return await _preview(path, window or None, None if frame is None else int(frame), services)
