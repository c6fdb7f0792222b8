"""The organiser's review tab: counts, ratings per template and backend, recent rows, exports."""

from __future__ import annotations

from typing import Any

import gradio as gr

from medgemma_ui.ui.components.figures import hidden_bars, hidden_table
from medgemma_ui.ui.events import admin_only
from medgemma_ui.ui.handlers import review as review_handlers
from medgemma_ui.ui.refs import Refs
from medgemma_ui.ui.services import Services


def _chart(title: str, x_title: str, elem_id: str) -> gr.BarPlot:
    # Stacked counts per rating: a group whose agreement is 0 % still shows its (red) bar.
    return hidden_bars(
        elem_id,
        x="Group",
        y="Ratings",
        color="Overall rating",
        color_map=review_handlers.RATING_COLOURS,
        title=title,
        x_title=x_title,
        y_title="Ratings",
    )


def render(services: Services) -> Refs:
    protected = bool(services.settings.feedback.admin_password)
    destination = review_handlers.destination_sentence(services.settings)
    gr.Markdown(
        f"Ratings from every reviewer, with exports. {destination}",
        elem_id="review-intro",
    )
    with gr.Row():
        password = gr.Textbox(
            label="Admin password",
            type="password",
            visible=protected,
            elem_id="admin-password",
            scale=2,
        )
        session = gr.Textbox(
            label="Session (leave empty for all sessions)", elem_id="review-session", scale=2
        )
        show = gr.Button("Show feedback", variant="primary", elem_id="show-review", scale=1)
    summary = gr.Markdown("", elem_id="review-summary")
    with gr.Row():
        by_template = _chart(
            "Overall ratings by template", "Template · agreement", elem_id="by-template"
        )
        by_backend = _chart(
            "Overall ratings by backend", "Backend · agreement", elem_id="by-backend"
        )
    recent = hidden_table(
        review_handlers.RECENT_COLUMNS,
        "Latest ratings",
        "recent-feedback",
        wrap=True,
        column_widths=review_handlers.RECENT_COLUMN_WIDTHS,
    )
    export = gr.Button("Export all as CSV and JSON Lines", elem_id="export-feedback")
    export_note = gr.Markdown("", elem_id="export-note")
    files = gr.File(
        label="Downloads",
        file_count="multiple",
        interactive=False,
        visible=False,
        elem_id="exports",
    )
    return {
        "password": password,
        "review_session": session,
        "show_review": show,
        "review_summary": summary,
        "by_template": by_template,
        "by_backend": by_backend,
        "recent": recent,
        "export": export,
        "export_note": export_note,
        "exports": files,
    }


def listen(refs: Refs, services: Services) -> None:
    # Both behind the admin right, checked on every call; the admin password is the first input.
    @admin_only(services)
    async def show(session: str) -> tuple:
        return await review_handlers.load_review(session, services)

    @admin_only(services)
    async def export(session: str) -> tuple[Any, str]:
        paths, note = await review_handlers.export_feedback(session, services)
        return gr.update(value=paths or None, visible=bool(paths)), note

    inputs = [refs["password"], refs["review_session"]]
    refs["show_review"].click(
        show,
        inputs=inputs,
        outputs=[refs["review_summary"], refs["by_template"], refs["by_backend"], refs["recent"]],
        api_visibility="private",
    )
    refs["export"].click(
        export,
        inputs=inputs,
        outputs=[refs["exports"], refs["export_note"]],
        api_visibility="private",
    )
