"""Analyze/Stop, then the result: a readable report beside the raw answer, the findings as JSON
one click away, and what exactly was sent."""

from __future__ import annotations

import gradio as gr

from medgemma_ui.ui.refs import Refs


def render() -> Refs:
    with gr.Row(elem_id="actions"):
        analyze = gr.Button("Analyze", variant="primary", elem_id="analyze", scale=3)
        stop = gr.Button("Stop", variant="stop", elem_id="stop", scale=1)
    status = gr.Markdown("", label="Status", elem_id="status")
    result_note = gr.Markdown("", label="Note", elem_id="result-note", elem_classes=["warnings"])
    validity = gr.Markdown("", label="Validity", elem_id="validity")
    with gr.Tabs(elem_id="result-tabs"):
        with gr.Tab("Report", id="report-tab"):
            report = gr.Markdown("", label="Report", elem_id="report")
        with gr.Tab("Findings as JSON", id="json-tab"):
            parsed = gr.JSON(label="Parsed findings", elem_id="parsed", open=True, height=420)
    raw = gr.Textbox(
        label="Raw answer from the model",
        lines=6,
        max_lines=24,
        interactive=False,
        buttons=["copy"],
        elem_id="raw",
        autoscroll=True,
    )
    provenance_line = gr.Markdown("", label="Provenance summary", elem_id="provenance-line")
    with gr.Accordion("Provenance: exactly what was sent", open=False, elem_id="provenance-box"):
        provenance = gr.JSON(label="Provenance", elem_id="provenance", open=True)
    timings = gr.Markdown("", label="Timings", elem_id="timings")
    return {
        "analyze": analyze,
        "stop": stop,
        "status": status,
        "result_note": result_note,
        "validity": validity,
        "report": report,
        "parsed": parsed,
        "raw": raw,
        "provenance_line": provenance_line,
        "provenance": provenance,
        "timings": timings,
        "result_state": gr.State(None),
    }
