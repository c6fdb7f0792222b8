"""Under each result: the clinician's review. Overall rating; per finding accept, reject or
correct the text in place (IHE AI Results' accept / reject / modify); findings the model missed;
a corrected impression and a comment."""

from __future__ import annotations

from typing import Any

import gradio as gr

from medgemma_ui.ui.handlers import feedback as feedback_handlers
from medgemma_ui.ui.handlers.result_view import NO_RESULT_HINT
from medgemma_ui.ui.refs import Refs
from medgemma_ui.ui.services import Services

OVERALL_CHOICES = [("Agree", "agree"), ("Partly agree", "partly_agree"), ("Disagree", "disagree")]
FINDING_CHOICES = [("Accept", "accept"), ("Reject", "reject"), ("Modify", "modify")]
REVIEWER_STORAGE_KEY = "medgemma_ui_reviewer"


def _review_text(label: str, elem_id: str) -> gr.Textbox:
    """One of the clinician's own texts side by side: empty, locked until there is a result."""
    return gr.Textbox(
        label=label,
        value="",
        lines=2,
        interactive=False,
        elem_id=elem_id,
        scale=1,
        min_width=260,
    )


def render(services: Services) -> Refs:
    with gr.Accordion("4 · Rate these findings", open=True, elem_id="feedback"):
        feedback_hint = gr.Markdown(NO_RESULT_HINT, elem_id="feedback-hint")
        overall = gr.Radio(
            label="Overall, do you agree with the model's findings?",
            choices=OVERALL_CHOICES,
            value=None,
            interactive=False,
            elem_id="overall",
        )
        findings_box = gr.Column(elem_id="finding-reviews")
        with gr.Row():
            added = _review_text("Findings the model missed (one per line)", "added-findings")
            corrected = _review_text("Your impression (correction)", "corrected-impression")
        comment = gr.Textbox(
            label="Comment", value="", lines=2, interactive=False, elem_id="comment"
        )
        with gr.Row():
            reviewer = gr.Textbox(
                label="Your name or pseudonym (optional, remembered in this browser)",
                value="",
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
        save = gr.Button("Save rating", variant="primary", interactive=False, elem_id="save-rating")
        confirmation = gr.Markdown("", elem_id="feedback-confirmation")
    return {
        "feedback_hint": feedback_hint,
        "overall": overall,
        "finding_ratings": gr.State({}),
        "finding_corrections": gr.State({}),
        "findings_box": findings_box,
        "added": added,
        "corrected": corrected,
        "comment": comment,
        "reviewer": reviewer,
        "session_label": session_label,
        "save": save,
        "confirmation": confirmation,
        "feedback_id": gr.State(None),
        "reviewer_memory": gr.BrowserState("", storage_key=REVIEWER_STORAGE_KEY),
    }


def render_finding_reviews(refs: Refs) -> None:
    """Per parsed finding: Accept / Reject / Modify and its text, editable in place."""

    with refs["findings_box"]:

        @gr.render(inputs=[refs["result_state"]])
        def reviews(result: Any) -> None:
            findings = feedback_handlers.rateable_findings(result)
            if not findings:
                return
            gr.Markdown("**Each finding**: accept it, reject it, or correct its text in place.")
            for title, path, text in findings:
                with gr.Row(elem_classes=["finding-review"], equal_height=True):
                    verdict = gr.Radio(
                        label=title,
                        choices=FINDING_CHOICES,
                        value=None,
                        key=f"verdict-{path}",
                        interactive=True,
                        elem_classes=["finding-mark"],
                        scale=2,
                        min_width=240,
                    )
                    wording = gr.Textbox(
                        value=text,
                        label=f"{title} (as the model wrote it; edit to correct)",
                        key=f"wording-{path}",
                        interactive=True,
                        elem_classes=["finding-text"],
                        scale=3,
                        min_width=240,
                    )

                def choose(choice: str | None, ratings: dict, path: str = path) -> dict:
                    updated = dict(ratings or {})
                    if choice:
                        updated[path] = choice
                    else:
                        updated.pop(path, None)
                    return updated

                def edit(
                    typed: str, ratings: dict, corrections: dict, path: str = path, text: str = text
                ) -> tuple:
                    ratings, corrections = dict(ratings or {}), dict(corrections or {})
                    if typed.strip() and typed.strip() != text.strip():
                        ratings[path] = "modify"
                        corrections[path] = typed
                        return ratings, corrections, "modify"
                    corrections.pop(path, None)
                    if ratings.get(path) == "modify":
                        ratings.pop(path)
                        return ratings, corrections, None
                    return ratings, corrections, gr.skip()

                verdict.input(
                    choose,
                    inputs=[verdict, refs["finding_ratings"]],
                    outputs=[refs["finding_ratings"]],
                    api_visibility="private",
                    queue=False,
                )
                # .change, not .input: pasted or dictated text counts too; equal text is a no-op.
                wording.change(
                    edit,
                    inputs=[wording, refs["finding_ratings"], refs["finding_corrections"]],
                    outputs=[refs["finding_ratings"], refs["finding_corrections"], verdict],
                    api_visibility="private",
                    queue=False,
                    trigger_mode="always_last",
                )


def listen(refs: Refs, services: Services, demo: gr.Blocks, analysis_event: Any) -> None:
    render_finding_reviews(refs)

    async def save(
        result: Any,
        shown_image: dict | None,
        record_id: str | None,
        overall: str | None,
        ratings: dict,
        corrections: dict,
        added: str,
        corrected: str,
        comment: str,
        reviewer: str,
        session_label: str,
        box_correction: str = "",
        request: gr.Request | None = None,
        oauth_token: gr.OAuthToken | None = None,
    ) -> tuple:
        # With logins on, the rating's reviewer is the login, whatever the name box says (that
        # box is only a label this browser remembers).
        who = services.identify(request, oauth_token)
        saved_id, message = await feedback_handlers.save_feedback(
            result,
            shown_image,
            record_id,
            overall,
            ratings,
            corrections,
            added,
            corrected,
            comment,
            who.login or reviewer,
            session_label,
            services,
            box_correction=box_correction,
        )
        return saved_id, message, reviewer

    refs["save"].click(
        save,
        inputs=[
            refs["result_state"],
            refs["shown_image"],
            refs["feedback_id"],
            refs["overall"],
            refs["finding_ratings"],
            refs["finding_corrections"],
            refs["added"],
            refs["corrected"],
            refs["comment"],
            refs["reviewer"],
            refs["session_label"],
            refs["box_correction"],
        ],
        outputs=[refs["feedback_id"], refs["confirmation"], refs["reviewer_memory"]],
        api_name="save_feedback",
        concurrency_limit=None,
    )

    def restore_reviewer(remembered: str, request: gr.Request) -> tuple:
        session = request.query_params.get("session") if request else None
        login = getattr(request, "username", None)
        # Signed in with a password: ratings are saved under the login, so the box shows it.
        reviewer = gr.update(value=login, interactive=False) if login else remembered or ""
        return reviewer, session or services.settings.feedback.session_label

    demo.load(
        restore_reviewer,
        inputs=[refs["reviewer_memory"]],
        outputs=[refs["reviewer"], refs["session_label"]],
        api_visibility="private",
    )
