"""The Compare tab: a blinded side-by-side comparison. The clinician picks a comparison session
(set up in advance by the organiser), gets the next image with two answers whose arms are hidden
and randomly placed, votes, and then sees which arm was which."""

from __future__ import annotations

from typing import Any

import gradio as gr

from medgemma_ui.ui.handlers import compare as handlers
from medgemma_ui.ui.refs import Refs, by_component
from medgemma_ui.ui.services import Services

NEXT_OUTPUTS = (
    "compare_status",
    "compare_image",
    "compare_left",
    "compare_right",
    "compare_vote",
    "compare_submit",
    "compare_reveal",
    "compare_state",
)


def render(services: Services) -> Refs:
    refs: Refs = {}
    gr.Markdown(
        "Two answers to the same image, side by side. Which backend, template or model wrote "
        "each one is hidden, and which is on the left is drawn at random for every image; both "
        "are shown after you vote.",
        elem_id="compare-intro",
    )
    with gr.Row(equal_height=True):
        refs["compare_session"] = gr.Dropdown(
            label="Comparison session", choices=[], value=None, elem_id="compare-session", scale=3
        )
        refs["compare_reviewer"] = gr.Textbox(
            label="Your name or pseudonym", elem_id="compare-reviewer", scale=2, min_width=200
        )
        refs["compare_next"] = gr.Button(
            "Next image", variant="primary", elem_id="compare-next", scale=1
        )
    refs["compare_status"] = gr.Markdown("", elem_id="compare-status")
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=280):
            refs["compare_image"] = gr.Image(
                label="The image both answers are about",
                type="pil",
                format="png",
                interactive=False,
                buttons=["fullscreen"],
                elem_id="compare-image",
            )
        with gr.Column(scale=3, min_width=260, elem_classes=["compare-answer"]):
            gr.Markdown("#### Left answer")
            refs["compare_left"] = gr.Markdown("", elem_id="compare-left")
        with gr.Column(scale=3, min_width=260, elem_classes=["compare-answer"]):
            gr.Markdown("#### Right answer")
            refs["compare_right"] = gr.Markdown("", elem_id="compare-right")
    with gr.Row(equal_height=True):
        refs["compare_vote"] = gr.Radio(
            label="Which answer is better?",
            choices=handlers.SIDE_VOTES,
            value=None,
            interactive=False,
            elem_id="compare-vote",
            scale=3,
        )
        refs["compare_comment"] = gr.Textbox(
            label="Comment (optional)", elem_id="compare-comment", scale=2
        )
        refs["compare_submit"] = gr.Button(
            "Vote and reveal", interactive=False, elem_id="compare-submit", scale=1
        )
    refs["compare_reveal"] = gr.Markdown("", elem_id="compare-reveal")
    refs["compare_state"] = gr.State(None)
    return refs


def listen(refs: Refs, services: Services, demo: gr.Blocks) -> None:
    async def sessions(remembered: str, request: gr.Request) -> tuple[Any, Any]:
        import asyncio

        choices = await asyncio.to_thread(handlers.session_choices, services)
        login = getattr(request, "username", None) if request else None
        return (
            gr.update(choices=choices, value=choices[0][1] if choices else None),
            login or remembered or "",  # the login, or the name typed in the Analyze tab
        )

    demo.load(
        sessions,
        inputs=[refs["reviewer_memory"]],
        outputs=[refs["compare_session"], refs["compare_reviewer"]],
        api_visibility="private",
    )

    async def next_image(
        comparison_id: str | None,
        reviewer: str,
        pending: Any,
        request: gr.Request,
        oauth_token: gr.OAuthToken | None = None,
    ):
        services.require_access(oauth_token)
        login = getattr(request, "username", None) if request else None
        async for update in handlers.next_comparison(
            comparison_id, login or reviewer, pending, services
        ):
            yield by_component(refs, update)

    refs["compare_next"].click(
        next_image,
        inputs=[refs["compare_session"], refs["compare_reviewer"], refs["compare_state"]],
        outputs=[refs[name] for name in NEXT_OUTPUTS],
        api_visibility="private",
        concurrency_limit=None,
        show_progress="minimal",
    )

    async def cast(
        pending: Any,
        choice: str | None,
        comment: str,
        reviewer: str,
        request: gr.Request,
        oauth_token: gr.OAuthToken | None = None,
    ) -> tuple[Any, str, Any, Any]:
        services.require_access(oauth_token)
        login = getattr(request, "username", None) if request else None
        state, reveal = await handlers.vote(pending, choice, comment, login or reviewer, services)
        return state, reveal, gr.update(interactive=False), gr.update(interactive=False)

    refs["compare_submit"].click(
        cast,
        inputs=[
            refs["compare_state"],
            refs["compare_vote"],
            refs["compare_comment"],
            refs["compare_reviewer"],
        ],
        outputs=[
            refs["compare_state"],
            refs["compare_reveal"],
            refs["compare_vote"],
            refs["compare_submit"],
        ],
        api_visibility="private",
        concurrency_limit=None,
    )
