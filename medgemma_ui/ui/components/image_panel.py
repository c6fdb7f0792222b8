"""Upload, window and frame choice, the exact 896×896 preview and the image facts."""

from __future__ import annotations

from typing import Any

import gradio as gr

from medgemma_ui.imaging import window_names
from medgemma_ui.ui.handlers import preview as preview_handlers
from medgemma_ui.ui.refs import Refs, by_component
from medgemma_ui.ui.services import Services
from medgemma_ui.ui.window_labels import DEFAULT_WINDOW, window_choices

# What a new file, frame or window changes: the preview and facts, and the result on screen,
# which was computed from the previous image.
PREVIEW_OUTPUTS = (
    "preview",
    "facts_summary",
    "facts",
    "warnings",
    "window",
    "frame",
    "template",
    "shown_image",
)


def render(max_frames: int) -> Refs:
    upload = gr.File(
        label="1 · Image or DICOM",
        file_types=None,  # DICOM often has no extension; the type is sniffed from content
        file_count="single",
        type="filepath",
        elem_id="upload",
        height=120,
    )
    with gr.Row(equal_height=False, elem_id="image-controls"):
        window = gr.Dropdown(
            label="Window",
            # Every name the API accepts; narrowed to the file's own choices once one is loaded.
            choices=window_choices([DEFAULT_WINDOW, *window_names()]),
            value=DEFAULT_WINDOW,
            visible=False,
            interactive=True,
            allow_custom_value=True,  # a file's own windows are "file:1", "file:2"...
            elem_id="window",
            info="How stored values become grey levels (CT: MedGemma's own encoding).",
            min_width=220,
        )
        frame = gr.Slider(
            label="Frame",
            # 1-based as people count; 0 (the API's default) means the middle frame.
            minimum=0,
            maximum=max(max_frames, 1),  # narrowed per file; the API may send any frame
            step=1,
            value=0,
            visible=False,
            interactive=True,
            buttons=[],
            elem_id="frame",
            min_width=220,
        )
    preview = gr.Image(
        label="What the model sees (896 × 896)",
        format="png",  # never lossy WebP on top of the JPEG the model receives
        type="pil",
        interactive=False,
        buttons=["fullscreen"],
        elem_id="preview",
    )
    facts_summary = gr.Markdown("", elem_id="facts-summary")
    warnings = gr.Markdown("", elem_id="image-warnings", elem_classes=["warnings"])
    with gr.Accordion("Image facts", open=False, elem_id="facts-accordion"):
        facts = gr.Markdown("", elem_id="facts")
    return {
        "upload": upload,
        "window": window,
        "frame": frame,
        "facts_summary": facts_summary,
        "facts": facts,
        "warnings": warnings,
        "preview": preview,
        # The image on screen, as the server prepared it: {"sha256", "template"...}; a rating is
        # accepted only for a result computed from this image.
        "shown_image": gr.State(None),
    }


def listen(refs: Refs, services: Services, result_names: tuple[str, ...]) -> None:
    """`result_names`: the result outputs a new image clears (it was computed from another)."""
    names = (*PREVIEW_OUTPUTS, *result_names)
    outputs = [refs[name] for name in names]

    async def on_upload(path: str | None, template: str | None) -> dict:
        return by_component(refs, await preview_handlers.preview_new_file(path, template, services))

    async def on_adjust(
        path: str | None, window: str | None, frame: float | None, shown: dict | None
    ) -> dict:
        named = await preview_handlers.preview_adjusted(path, window, frame, shown, services)
        return by_component(refs, named)

    common: dict[str, Any] = {
        "outputs": outputs,
        "api_visibility": "private",
        "concurrency_limit": None,
        "show_progress": "minimal",
        # A held arrow key or a drag sends many changes: run one at a time, then the latest.
        "trigger_mode": "always_last",
    }
    refs["upload"].change(on_upload, inputs=[refs["upload"], refs["template"]], **common)
    adjust_inputs = [refs["upload"], refs["window"], refs["frame"], refs["shown_image"]]
    # Only user changes re-render (.input/.release): the upload handler itself sets these values.
    # The slider's .input fires for the arrow keys, typing and dragging; .release after a drag.
    refs["window"].input(on_adjust, inputs=adjust_inputs, **common)
    refs["frame"].input(on_adjust, inputs=adjust_inputs, **common)
    refs["frame"].release(on_adjust, inputs=adjust_inputs, **common)
