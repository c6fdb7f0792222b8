"""Under each result: the clinician's overall rating, per-finding marks, corrections, comment."""

from __future__ import annotations

from typing import Any

import gradio as gr

from medgemma_ui.ui.handlers import feedback as feedback_handlers
from medgemma_ui.ui.services import Services

Refs = dict[str, Any]

OVERALL_CHOICES = [("Agree", "agree"), ("Partly agree", "partly_agree"), ("Disagree", "disagree")]
FINDING_CHOICES = [("Correct", "correct"), ("Incorrect", "incorrect"), ("Unsure", "unsure")]
REVIEWER_STORAGE_KEY = "medgemma_ui_reviewer"


def render(services: Services) -> Refs:
    with gr.Accordion("4 · Rate these findings", open=True, elem_id="feedback"):
        feedback_hint = gr.Markdown(
            "Analyse an image first; your rating is attached to that result.",
            elem_id="feedback-hint",
        )
        overall = gr.Radio(
            label="Overall, do you agree with the model's findings?",
            choices=OVERALL_CHOICES,
            value=None,
            elem_id="overall",
        )
        finding_ratings = gr.State({})
        findings_box = gr.Column(elem_id="finding-ratings")
        with gr.Row():
            missed = gr.Textbox(
                label="What was missed?", lines=2, elem_id="missed", scale=1, min_width=260
            )
            corrected = gr.Textbox(
                label="Your impression (correction)",
                lines=2,
                elem_id="corrected-impression",
                scale=1,
                min_width=260,
            )
        comment = gr.Textbox(label="Comment", lines=2, elem_id="comment")
        with gr.Row():
            reviewer = gr.Textbox(
                label="Your name or pseudonym (optional, remembered in this browser)",
                elem_id="reviewer",
                scale=2,
                min_width=220,
            )
            session_label = gr.Textbox(
                label="Session",
                value=services.settings.feedback.session_label,
                elem_id="session-label",
                scale=1,
                min_width=160,
            )
        save = gr.Button("Save rating", variant="primary", elem_id="save-rating")
        confirmation = gr.Markdown("", elem_id="feedback-confirmation")
    return {
        "feedback_hint": feedback_hint,
        "overall": overall,
        "finding_ratings": finding_ratings,
        "findings_box": findings_box,
        "missed": missed,
        "corrected": corrected,
        "comment": comment,
        "reviewer": reviewer,
        "session_label": session_label,
        "save": save,
        "confirmation": confirmation,
        "feedback_id": gr.State(None),
        "reviewer_memory": gr.BrowserState("", storage_key=REVIEWER_STORAGE_KEY),
    }


def render_finding_marks(refs: Refs) -> None:
    """One Correct/Incorrect/Unsure choice per parsed finding, rebuilt for every new result."""

    with refs["findings_box"]:

        @gr.render(inputs=[refs["result_state"]])
        def marks(result: Any) -> None:
            findings = feedback_handlers.rateable_findings(result)
            if not findings:
                return
            gr.Markdown("**Mark each finding** (optional)")
            for label, path in findings:
                radio = gr.Radio(
                    label=label,
                    choices=FINDING_CHOICES,
                    value=None,
                    key=f"finding-{path}",
                    elem_classes=["finding-mark"],
                )

                def remember(choice: str | None, ratings: dict, path: str = path) -> dict:
                    updated = dict(ratings or {})
                    if choice:
                        updated[path] = choice
                    else:
                        updated.pop(path, None)
                    return updated

                radio.change(
                    remember,
                    inputs=[radio, refs["finding_ratings"]],
                    outputs=[refs["finding_ratings"]],
                    api_visibility="private",
                    queue=False,
                )


def listen(refs: Refs, services: Services, demo: gr.Blocks, analysis_event: Any) -> None:
    render_finding_marks(refs)

    def reset_for_new_result(result: Any) -> tuple:
        hint = (
            "Rate the findings above. Nothing is stored until you press *Save rating*."
            if result is not None
            else "Analyse an image first; your rating is attached to that result."
        )
        return None, {}, None, "", "", "", "", hint

    analysis_event.then(
        reset_for_new_result,
        inputs=[refs["result_state"]],
        outputs=[
            refs["feedback_id"],
            refs["finding_ratings"],
            refs["overall"],
            refs["missed"],
            refs["corrected"],
            refs["comment"],
            refs["confirmation"],
            refs["feedback_hint"],
        ],
        api_visibility="private",
        queue=False,
    )

    async def save(
        result: Any,
        record_id: str | None,
        overall: str | None,
        ratings: dict,
        missed: str,
        corrected: str,
        comment: str,
        reviewer: str,
        session_label: str,
        oauth_token: gr.OAuthToken | None = None,
    ) -> tuple:
        services.require_access(oauth_token)
        saved_id, message = await feedback_handlers.save_feedback(
            result,
            record_id,
            overall,
            ratings,
            missed,
            corrected,
            comment,
            reviewer,
            session_label,
            services,
        )
        return saved_id, message, reviewer

    refs["save"].click(
        save,
        inputs=[
            refs["result_state"],
            refs["feedback_id"],
            refs["overall"],
            refs["finding_ratings"],
            refs["missed"],
            refs["corrected"],
            refs["comment"],
            refs["reviewer"],
            refs["session_label"],
        ],
        outputs=[refs["feedback_id"], refs["confirmation"], refs["reviewer_memory"]],
        api_name="save_feedback",
        concurrency_limit=None,
    )

    def restore_reviewer(remembered: str, request: gr.Request) -> tuple:
        session = request.query_params.get("session") if request else None
        return remembered or "", session or services.settings.feedback.session_label

    demo.load(
        restore_reviewer,
        inputs=[refs["reviewer_memory"]],
        outputs=[refs["reviewer"], refs["session_label"]],
        api_visibility="private",
    )
