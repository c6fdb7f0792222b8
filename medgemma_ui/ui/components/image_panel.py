"""Upload, window and frame choice, the exact 896×896 preview and the image facts."""

from __future__ import annotations

from typing import Any

import gradio as gr

from medgemma_ui.imaging import window_names
from medgemma_ui.ui.events import for_caller
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


def _file_input(label: str, elem_id: str, *, many: bool = False, shown: bool = True) -> gr.File:
    # Any file type: DICOM often has no extension; the type is sniffed from the content.
    return gr.File(
        label=label,
        file_types=None,
        file_count="multiple" if many else "single",
        type="filepath",
        visible=shown,
        elem_id=elem_id,
        height=120 if many or shown else 100,
    )


def render(max_frames: int) -> Refs:
    refs: Refs = {}
    refs["upload"] = _file_input("1 · Image or DICOM", "upload")
    # What a study template takes besides the image; shown when such a template is chosen.
    refs["study_files"] = _file_input(
        "Series: the DICOM files of one CT or MR series (up to 85 slices are sent)",
        "study-files",
        many=True,
        shown=False,
    )
    refs["series"] = gr.Number(
        label="Series number (when the files hold several; 0: the only one)",
        value=0,
        precision=0,
        minimum=0,
        visible=False,
        interactive=True,
        elem_id="series-choice",
    )
    refs["prior"] = _file_input(
        "Prior image (the earlier examination; the upload above is the current one)",
        "prior-upload",
        shown=False,
    )
    refs["target"] = gr.Dropdown(
        label="What to locate",
        choices=[],
        value="",
        allow_custom_value=True,  # any structure can be typed
        visible=False,
        interactive=True,
        elem_id="target",
        info="Left and right are the patient's.",
    )
    with gr.Row(equal_height=False, elem_id="image-controls"):
        refs["window"] = gr.Dropdown(
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
        refs["frame"] = gr.Slider(
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
    refs["preview"] = gr.Image(
        label="What the model sees (896 × 896)",
        format="png",  # never lossy WebP on top of the JPEG the model receives
        type="pil",
        interactive=False,
        buttons=["fullscreen"],
        elem_id="preview",
    )
    # What a study sent (a numbered strip, or prior and current side by side) and the boxes a
    # localisation gave, drawn on the image that was sent.
    refs["sent_strip"] = gr.Gallery(
        label="Slices sent to the model, in order",
        columns=6,
        height=260,
        visible=False,
        elem_id="sent-strip",
        object_fit="contain",
        format="png",  # the JPEGs sent, not re-encoded lossily
    )
    refs["compare_view"] = gr.ImageSlider(
        label="Prior | current, as sent (drag to compare)",
        type="pil",
        format="png",
        visible=False,
        elem_id="compare-view",
    )
    refs["boxes_view"] = gr.AnnotatedImage(
        label="Boxes the model gave, on the image it was sent",
        visible=False,
        elem_id="boxes-view",
        format="png",
    )
    refs["box_correction"] = gr.Textbox(
        value="",  # an API default: no correction
        label="Correct the box",
        visible=False,
        interactive=True,
        elem_id="box-correction",
    )
    refs["facts_summary"] = gr.Markdown("", elem_id="facts-summary")
    refs["warnings"] = gr.Markdown("", elem_id="image-warnings", elem_classes=["warnings"])
    with gr.Accordion("Image facts", open=False, elem_id="facts-accordion"):
        refs["facts"] = gr.Markdown("", elem_id="facts")
    # The image on screen, as the server prepared it: {"sha256", "template"...}; a rating is
    # accepted only for a result computed from this image.
    refs["shown_image"] = gr.State(None)
    return refs


def listen(refs: Refs, services: Services, result_names: tuple[str, ...]) -> None:
    """`result_names`: the result outputs a new image clears (it was computed from another)."""
    names = (*PREVIEW_OUTPUTS, *result_names)
    outputs = [refs[name] for name in names]

    # Every event that touches a file runs for its caller (`for_caller`): with OAuth
    # organisations on, only signed-in members pass, on the server; the preparation uses the
    # caller's share of the image workers and may read only their own uploads.
    @for_caller(services)
    async def on_upload(path: str | None, template: str | None) -> dict:
        return by_component(refs, await preview_handlers.preview_new_file(path, template, services))

    @for_caller(services)
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

    @for_caller(services)
    async def on_series(
        paths: list[str] | None, template: str | None, series: float | None
    ) -> dict:
        named = await preview_handlers.preview_series(paths, template, services, series)
        return by_component(refs, named)

    series_inputs = [refs["study_files"], refs["template"], refs["series"]]
    refs["study_files"].change(on_series, inputs=series_inputs, **common)
    refs["series"].input(on_series, inputs=series_inputs, **common)

    def on_template(template: str | None) -> dict:
        return by_component(refs, preview_handlers.study_inputs(template))

    refs["template"].change(
        on_template,
        inputs=[refs["template"]],
        outputs=[refs[name] for name in preview_handlers.STUDY_INPUTS],
        api_visibility="private",
        queue=False,
    )
    adjust_inputs = [refs["upload"], refs["window"], refs["frame"], refs["shown_image"]]
    # Only user changes re-render (.input/.release): the upload handler itself sets these values.
    # The slider's .input fires for the arrow keys, typing and dragging; .release after a drag.
    refs["window"].input(on_adjust, inputs=adjust_inputs, **common)
    refs["frame"].input(on_adjust, inputs=adjust_inputs, **common)
    refs["frame"].release(on_adjust, inputs=adjust_inputs, **common)
