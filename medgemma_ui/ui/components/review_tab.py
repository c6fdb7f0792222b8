"""The organiser's review tab: counts, agreement per template and backend, recent rows, exports."""

from __future__ import annotations

from typing import Any

import gradio as gr

from medgemma_ui.ui.handlers import review as review_handlers
from medgemma_ui.ui.services import Services

Refs = dict[str, Any]


def render(services: Services) -> Refs:
    protected = bool(services.settings.feedback.admin_password)
    gr.Markdown(
        "Feedback from every reviewer. " + services.feedback_destination,
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
        session = gr.Textbox(label="Session (empty: all)", elem_id="review-session", scale=2)
        show = gr.Button("Show feedback", variant="primary", elem_id="show-review", scale=1)
    summary = gr.Markdown("", elem_id="review-summary")
    with gr.Row():
        by_template = gr.BarPlot(
            x="template",
            y="agreement",
            title="Agreement by template",
            y_lim=[0, 1],
            elem_id="by-template",
        )
        by_backend = gr.BarPlot(
            x="backend",
            y="agreement",
            title="Agreement by backend",
            y_lim=[0, 1],
            elem_id="by-backend",
        )
    recent = gr.Dataframe(
        headers=review_handlers.RECENT_COLUMNS,
        label="Recent feedback (50)",
        interactive=False,
        elem_id="recent-feedback",
        wrap=True,
    )
    export = gr.Button("Export all as CSV and JSON Lines", elem_id="export-feedback")
    files = gr.File(label="Exports", file_count="multiple", interactive=False, elem_id="exports")
    return {
        "password": password,
        "review_session": session,
        "show_review": show,
        "review_summary": summary,
        "by_template": by_template,
        "by_backend": by_backend,
        "recent": recent,
        "export": export,
        "exports": files,
    }


def listen(refs: Refs, services: Services) -> None:
    async def show(password: str, session: str, oauth_token: gr.OAuthToken | None = None) -> tuple:
        services.require_access(oauth_token)
        return await review_handlers.load_review(password, session, services)

    async def export(
        password: str, session: str, oauth_token: gr.OAuthToken | None = None
    ) -> list[str]:
        services.require_access(oauth_token)
        return await review_handlers.export_feedback(password, session, services)

    inputs = [refs["password"], refs["review_session"]]
    refs["show_review"].click(
        show,
        inputs=inputs,
        outputs=[refs["review_summary"], refs["by_template"], refs["by_backend"], refs["recent"]],
        api_visibility="private",
    )
    refs["export"].click(export, inputs=inputs, outputs=[refs["exports"]], api_visibility="private")
