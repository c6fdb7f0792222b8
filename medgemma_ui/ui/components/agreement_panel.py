"""The agreement dashboard, in the review tab under the ratings: findings accepted / corrected /
rejected per template, backend or model; agreement between clinicians; comparison win rates with
intervals; IoU of corrected boxes; the daily trend. Behind the same admin right as the review."""

from __future__ import annotations

from typing import Any

import gradio as gr

from medgemma_ui.ui.components.figures import hidden_bars, hidden_table
from medgemma_ui.ui.events import admin_only
from medgemma_ui.ui.handlers import agreement as handlers
from medgemma_ui.ui.refs import Refs, by_component
from medgemma_ui.ui.services import Services

OUTPUTS = (
    "agreement_summary",
    "finding_shares",
    "rater_agreement",
    "agreement_trend",
    "box_iou",
    "win_rates",
    "win_table",
    "agreement_json",
)


def render(services: Services) -> Refs:
    gr.Markdown("### Agreement dashboard", elem_id="agreement-title")
    with gr.Row(equal_height=True):
        group_by = gr.Radio(
            label="Findings by",
            choices=[(label, key) for key, label in handlers.GROUP_LABELS.items()],
            value="template",
            elem_id="agreement-group-by",
            scale=3,
        )
        show = gr.Button("Show agreement", elem_id="show-agreement", scale=1)
    summary = gr.Markdown("", elem_id="agreement-summary")
    with gr.Row():
        shares = hidden_bars(
            "finding-shares",
            x="Group",
            y="Share",
            color="Verdict",
            color_map=handlers.VERDICT_COLOURS,
            title="Findings accepted, corrected and rejected",
            y_title="Share of findings",
            y_lim=[0, 1],
        )
        raters = hidden_bars(
            "rater-agreement",
            x="Measure",
            y="Value",
            title="Agreement between clinicians (κ, α: 1 perfect, 0 chance)",
            y_title="κ / α",
            y_lim=[-1, 1],
        )
    wins = gr.Plot(label="Blinded comparisons", visible=False, elem_id="win-rates")
    wins_table = hidden_table(handlers.WIN_COLUMNS, "Votes per pair of arms", "win-table")
    with gr.Row():
        trend = gr.LinePlot(
            x="Day",
            y="Value",
            color="Measure",
            title="Per day",
            y_title="Share",
            y_lim=[0, 1],
            visible=False,
            elem_id="agreement-trend",
        )
        ious = hidden_bars(
            "box-iou", x="IoU", y="Boxes", title="Corrected boxes: overlap with the model's (IoU)"
        )
    with gr.Accordion("The same figures as JSON (`feedback stats`)", open=False):
        as_json = gr.JSON(elem_id="agreement-json")
    return {
        "agreement_group_by": group_by,
        "show_agreement": show,
        "agreement_summary": summary,
        "finding_shares": shares,
        "rater_agreement": raters,
        "agreement_trend": trend,
        "box_iou": ious,
        "win_rates": wins,
        "win_table": wins_table,
        "agreement_json": as_json,
    }


def listen(refs: Refs, services: Services) -> None:
    @admin_only(services)  # the admin password is the first input
    async def show(session: str, group_by: str) -> dict[Any, Any]:
        return by_component(refs, await handlers.load_agreement(session, group_by, services))

    inputs = [refs["password"], refs["review_session"], refs["agreement_group_by"]]
    outputs = [refs[name] for name in OUTPUTS]
    for trigger in (refs["show_agreement"].click, refs["agreement_group_by"].input):
        trigger(show, inputs=inputs, outputs=outputs, api_visibility="private")
