"""Title and the research-use notice."""

from __future__ import annotations

import gradio as gr

NOTICE = (
    "**Research demonstration — not a medical device.** MedGemma's answers can be wrong or "
    "incomplete and must not be used for diagnosis or treatment. Only the image pixels shown under "
    "*What the model sees* are sent to the selected backend: no file names and no DICOM tags."
)


def render(sign_in: bool = False) -> dict[str, gr.components.Component]:
    with gr.Row(elem_id="header"):
        title = gr.Markdown("# MedGemma review", elem_id="title")
        if sign_in:
            gr.LoginButton(scale=0, min_width=220)
    notice = gr.Markdown(NOTICE, elem_id="notice", elem_classes=["notice"])
    return {"title": title, "notice": notice}
