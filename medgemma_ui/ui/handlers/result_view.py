"""What the result area and the rating panel show in each phase: empty, analysing, done, stale.

Each function returns `{output name: value}`; the components map names to their Gradio parts.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import gradio as gr
from PIL import Image

from medgemma_ui.analysis import AnalysisResult
from medgemma_ui.imaging import PreparedImage
from medgemma_ui.reports import invalid_answer_sentence, plain_problem, report_markdown
from medgemma_ui.templates import AUTO_TEMPLATE, Template, get_template
from medgemma_ui.ui.formatting import provenance_markdown, timings_markdown

# Outputs of the result area, in the order the analyze API returns them (names are API labels).
RESULT_OUTPUTS = (
    "raw",
    "parsed",
    "validity",
    "report",
    "provenance",
    "provenance_line",
    "status",
    "timings",
    "result_note",
    "result_state",
    # What a study sent, and a localisation's boxes (hidden for one image).
    "sent_strip",
    "compare_view",
    "boxes_view",
    "box_correction",
)


def _hidden() -> Any:
    return gr.update(value=None, visible=False)


THUMBNAIL_SIDE = 224  # the strip's images (a series can hold 85)

# The rating controls whose state follows the result.
FEEDBACK_FIELDS = ("overall", "added", "corrected", "comment")
FEEDBACK_OUTPUTS = ("save", "feedback_hint", *FEEDBACK_FIELDS)

NO_RESULT_HINT = (
    "Nothing to rate yet: analyze an image first; your rating is attached to that result."
)


def cleared_result(status: str = "") -> dict[str, Any]:
    """No result on screen (a new image, or none): the rating panel goes inactive too."""
    return {**empty_result(status), **feedback_inactive(NO_RESULT_HINT)}


def empty_result(status: str = "") -> dict[str, Any]:
    """The result area with nothing in it (the rating panel is left as it is)."""
    return {
        "raw": "",
        "parsed": None,
        "validity": "",
        "report": "",
        "provenance": None,
        "provenance_line": "",
        "status": status,
        "timings": "",
        "result_note": "",
        "result_state": None,
        "sent_strip": _hidden(),
        "compare_view": _hidden(),
        "boxes_view": _hidden(),
        "box_correction": gr.update(value="", visible=False),
    }


def study_views(
    images: Sequence[PreparedImage], template: Template, shown: Sequence[str] = ()
) -> dict[str, Any]:
    """The images about to be sent, shown as the model gets them: a series as a numbered strip,
    a prior and current pair side by side (`shown`: their PNGs, `Services.shown`)."""
    if template.input == "series":
        strip = [(thumbnail(image.jpeg), f"SLICE {k}") for k, image in enumerate(images, 1)]
        return {"sent_strip": gr.update(value=strip, visible=True)}
    if template.input == "prior" and len(shown) == 2:
        return {"compare_view": gr.update(value=tuple(shown), visible=True)}
    return {}


def thumbnail(jpeg: bytes, side: int = THUMBNAIL_SIDE) -> Image.Image:
    """A small view of a sent JPEG for the strip, decoded at reduced scale (JPEG draft mode): 85
    full 896² previews would cost 200 MB and seconds of PNG encoding; the preview shows one at
    full size."""
    image = Image.open(io.BytesIO(jpeg))
    image.draft("RGB", (side, side))
    image.thumbnail((side, side))
    return image.convert("RGB")


def boxes_outputs(result: AnalysisResult, sent: str) -> dict[str, Any]:
    """A localisation's boxes drawn on the image that was sent (`sent`: its PNG), and the first
    box's corner numbers (original pixels) ready to correct."""
    if result.template_input != "target":
        return {}
    boxes = result.boxes
    drawn = [(box.on_square(), box.label) for box in boxes]
    first = boxes[0] if boxes else None
    return {
        "boxes_view": gr.update(value=(sent, drawn), visible=True),
        "box_correction": gr.update(
            value=", ".join(f"{v:g}" for v in first.xyxy) if first else "",
            visible=first is not None,
            label=f"Correct the {first.label} box: x0, y0, x1, y1 in pixels of the original "
            "image (saved with your rating, with its overlap)"
            if first
            else None,
        ),
    }


def feedback_inactive(hint: str) -> dict[str, Any]:
    return {
        "save": gr.update(interactive=False),
        "feedback_hint": hint,
        **{name: gr.update(interactive=False) for name in FEEDBACK_FIELDS},
    }


def feedback_analysing() -> dict[str, Any]:
    """A new analysis: the previous rating's fields are emptied; typing may start at once."""
    return {
        "save": gr.update(interactive=False),
        "feedback_hint": "The model is answering. You can start writing; save once the answer "
        "is in.",
        "overall": gr.update(value=None, interactive=True),
        "added": gr.update(value="", interactive=True),
        "corrected": gr.update(value="", interactive=True),
        "comment": gr.update(value="", interactive=True),
    }


def feedback_after(result: AnalysisResult | None) -> dict[str, Any]:
    """When the analysis has ended: ready to rate, or why not. Typed text is kept."""
    if result is None:
        return {
            "save": gr.update(interactive=False),
            "feedback_hint": "There is no answer to rate; analyze again when ready.",
        }
    return {
        "save": gr.update(interactive=True),
        "feedback_hint": "Rate the findings: accept, reject or correct each one, add what was "
        "missed. Nothing is stored until you press *Save rating*.",
    }


def validity_sentence(result: AnalysisResult) -> str:
    """One sentence on whether the findings can be used; problems in plain words below it."""
    findings = result.final.findings
    schema = get_template(result.template_id).schema
    notes = []
    if result.retries:
        times = "once" if result.retries == 1 else f"{result.retries} times"
        notes.append(f"The first answer was not usable, so the model was asked again {times}.")
    if result.retry_error:
        notes.append(f"The retry failed ({result.retry_error}); the first answer is shown.")
    if findings.valid:
        head = "**Valid findings** for this template."
        return " ".join([head, *notes])
    sentence = invalid_answer_sentence(
        has_data=findings.data is not None,
        errors=list(findings.errors),
        finish_reason=result.final.finish_reason,
        max_tokens=int(result.generation.get("max_tokens", 0)),
        schema=schema,
    )
    problems = [plain_problem(e, schema) for e in findings.errors] if findings.data else []
    listed = "".join(f"\n- {p}" for p in dict.fromkeys(problems))
    return " ".join([f"**Not usable as it stands.** {sentence}", *notes]) + listed


def result_outputs(result: AnalysisResult, raw_shown: str) -> dict[str, Any]:
    schema = get_template(result.template_id).schema
    return {
        "raw": raw_shown,
        "parsed": result.parsed,
        "validity": validity_sentence(result),
        "report": report_markdown(result.parsed, schema)
        or "*No findings could be read from this answer; the raw answer is shown.*",
        "provenance": result.provenance.to_json(),
        "provenance_line": provenance_markdown(result.provenance),
        "status": f"Done · {result.backend} · model `{result.model}`",
        "timings": timings_markdown(result.timings_ms),
        "result_note": "",
        "result_state": result,
    }


def stale_note(result: AnalysisResult | None, template_id: str | None, backend: str | None) -> str:
    """Marks the result on screen when the template or backend chosen no longer matches it."""
    if result is None:
        return ""
    template_changed = bool(
        template_id and template_id != AUTO_TEMPLATE and template_id != result.template_id
    )
    if not template_changed and (not backend or backend == result.backend):
        return ""
    label = get_template(result.template_id).label
    return (
        f"**Previous result**: computed with the {label} template on the {result.backend} "
        "backend. Press Analyze to apply your new choice; a rating now is saved for the result "
        "as shown."
    )
