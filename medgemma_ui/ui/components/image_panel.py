"""Upload, the exact 896×896 preview, image facts, window and frame choice."""

from __future__ import annotations

from typing import Any

import gradio as gr

from medgemma_ui.ui.handlers import preview as preview_handlers
from medgemma_ui.ui.services import Services

Refs = dict[str, Any]


def render(max_frames: int) -> Refs:
    with gr.Row(equal_height=False, elem_id="image-row"):
        with gr.Column(scale=2, min_width=280):
            upload = gr.File(
                label="1 · Image or DICOM",
                file_types=None,  # DICOM often has no extension; the type is sniffed from content
                file_count="single",
                type="filepath",
                elem_id="upload",
            )
            window = gr.Dropdown(
                label="Window",
                choices=[],
                value=None,
                visible=False,
                interactive=True,
                allow_custom_value=True,  # choices differ per file; imaging validates the name
                elem_id="window",
                info="How stored values become grey levels (CT: MedGemma's own encoding).",
            )
            frame = gr.Slider(
                label="Frame",
                minimum=0,
                maximum=max(max_frames - 1, 1),  # narrowed per file; the API may send any frame
                step=1,
                value=0,
                visible=False,
                interactive=True,
                elem_id="frame",
            )
            facts = gr.Markdown("", elem_id="facts")
            warnings = gr.Markdown("", elem_id="image-warnings", elem_classes=["warnings"])
        with gr.Column(scale=3, min_width=300):
            preview = gr.Image(
                label="What the model sees (896 × 896)",
                format="png",  # never lossy WebP on top of the JPEG the model receives
                type="pil",
                interactive=False,
                buttons=["fullscreen"],
                elem_id="preview",
            )
    return {
        "upload": upload,
        "window": window,
        "frame": frame,
        "facts": facts,
        "warnings": warnings,
        "preview": preview,
    }


def listen(refs: Refs, services: Services) -> None:
    # A new file may also pick the template its DICOM modality points to (CT → CT, MR → MRI...).
    outputs = [
        refs["preview"],
        refs["facts"],
        refs["warnings"],
        refs["window"],
        refs["frame"],
        refs["template"],
    ]

    async def on_upload(path: str | None) -> tuple:
        return await preview_handlers.preview_new_file(path, services)

    async def on_adjust(path: str | None, window: str | None, frame: float | None) -> tuple:
        return await preview_handlers.preview_adjusted(path, window, frame, services)

    common = {
        "outputs": outputs,
        "api_visibility": "private",
        "concurrency_limit": None,
        "show_progress": "minimal",
    }
    refs["upload"].change(on_upload, inputs=[refs["upload"]], **common)
    adjust_inputs = [refs["upload"], refs["window"], refs["frame"]]
    # Only user changes re-render (.input/.release): the upload handler itself sets these values.
    refs["window"].input(on_adjust, inputs=adjust_inputs, **common)
    refs["frame"].release(on_adjust, inputs=adjust_inputs, **common)
