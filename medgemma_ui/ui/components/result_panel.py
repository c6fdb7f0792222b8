"""Analyze/Stop, the streamed raw answer beside the parsed findings, validity and timings."""

from __future__ import annotations

from typing import Any

import gradio as gr

Refs = dict[str, Any]


def render() -> Refs:
    with gr.Row(elem_id="actions"):
        analyze = gr.Button("Analyze", variant="primary", elem_id="analyze", scale=3)
        stop = gr.Button("Stop", variant="stop", elem_id="stop", scale=1)
    status = gr.Markdown("", elem_id="status")
    with gr.Row(equal_height=False, elem_id="result-row"):
        with gr.Column(scale=1, min_width=300):
            raw = gr.Textbox(
                label="Raw answer from the model",
                lines=16,
                max_lines=40,
                interactive=False,
                buttons=["copy"],
                elem_id="raw",
                autoscroll=True,
            )
        with gr.Column(scale=1, min_width=300):
            validity = gr.Markdown("", elem_id="validity")
            parsed = gr.JSON(label="Parsed findings", elem_id="parsed", open=True, height=420)
    timings = gr.Markdown("", elem_id="timings")
    result_state = gr.State(None)
    return {
        "analyze": analyze,
        "stop": stop,
        "status": status,
        "raw": raw,
        "validity": validity,
        "parsed": parsed,
        "timings": timings,
        "result_state": result_state,
    }
