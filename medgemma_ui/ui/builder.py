"""Compose the page from its components and wire the events (the only place that does both)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from medgemma_ui.ui.access import CALLER, make_auth
from medgemma_ui.ui.components import (
    agreement_panel,
    compare_tab,
    examples,
    feedback_panel,
    header,
    image_panel,
    model_panel,
    pacs_panel,
    result_panel,
    review_tab,
)
from medgemma_ui.ui.handlers import analyze as analyze_handlers
from medgemma_ui.ui.handlers import result_view
from medgemma_ui.ui.handlers.result_view import FEEDBACK_OUTPUTS, RESULT_OUTPUTS
from medgemma_ui.ui.middleware import Guard
from medgemma_ui.ui.refs import by_component, named_inputs
from medgemma_ui.ui.services import Services, create_services

ASSETS = Path(__file__).resolve().parents[2] / "assets"
# Purge uploaded files hourly once they are an hour old; the cache is wiped on restart too.
DELETE_CACHE = (3600, 3600)


def build_demo(services: Services | None = None) -> gr.Blocks:
    services = services or create_services()
    with gr.Blocks(
        title="MedGemma review", analytics_enabled=False, delete_cache=DELETE_CACHE
    ) as demo:
        refs: dict[str, Any] = {}
        refs.update(header.render(sign_in=services.org_gate.enabled))
        refs["template"] = model_panel.template_dropdown()
        with gr.Tabs():
            # Two columns on a wide screen (image left, report right); one on a phone.
            with (
                gr.Tab("Analyze", id="analyze-tab"),
                gr.Row(equal_height=False, elem_id="workspace"),
            ):
                with gr.Column(scale=5, min_width=320, elem_id="image-column"):
                    refs.update(pacs_panel.render_open(services))
                    refs.update(image_panel.render(services.settings.image_limits.max_frames))
                    examples.render(refs)
                with gr.Column(scale=6, min_width=320, elem_id="report-column"):
                    refs.update(model_panel.render(services, refs["template"]))
                    refs.update(result_panel.render())
                    refs.update(pacs_panel.render_exports(services))
                    refs.update(feedback_panel.render(services))
            with gr.Tab("Compare", id="compare-tab"):
                refs.update(compare_tab.render(services))
            with gr.Tab("Review feedback", id="review"):
                refs.update(review_tab.render(services))
                refs.update(agreement_panel.render(services))
        image_panel.listen(refs, services, (*RESULT_OUTPUTS, *FEEDBACK_OUTPUTS))
        model_panel.listen(refs, services, demo)
        analysis_event = _wire_analysis(refs, services)
        feedback_panel.listen(refs, services, demo, analysis_event)
        review_tab.listen(refs, services)
        agreement_panel.listen(refs, services)
        compare_tab.listen(refs, services, demo)
        pacs_panel.listen(refs, services)
    demo.queue(default_concurrency_limit=None, max_size=services.settings.server.queue_size)
    demo.temp_file_sets.append(services.exports)  # review exports go with the uploads
    demo.temp_file_sets.append(services.given)  # so do the files handed to pages
    return demo


# The analyze API's parameters (named as gradio_client shows them) and the components they come
# from, in order: each has a default, so a call with only the file works (template suggested
# from the image, the template's own prompt, the image's default window).
ANALYZE_INPUTS = {
    "file_path": "upload",
    "window": "window",
    "frame": "frame",
    "backend": "backend",
    "template": "template",
    "prompt": "prompt",
    "max_tokens": "max_tokens",
    "temperature": "temperature",
    "structured": "structured",
    "retries": "retries",
    # Study modes (MedGemma 1.5): the prior image, a series' files, what to locate.
    "prior_path": "prior",
    "study_paths": "study_files",
    "target": "target",
    "series": "series",  # 1-based, when the files hold several series
}
ANALYZE_OUTPUTS = ("preview", "shown_image", *RESULT_OUTPUTS)


def _wire_analysis(refs: dict[str, Any], services: Services) -> Any:
    async def analyze(
        named: dict[str, Any],
        oauth_token: gr.OAuthToken | None,
        progress: gr.Progress,
        request: gr.Request | None,
    ):
        who = services.identify(request, oauth_token)
        steps = analyze_handlers.analyze(named, services, progress)
        try:
            while True:
                # Each step runs for this caller (their share of the image workers, their
                # uploads), whichever task Gradio runs it in.
                token = CALLER.set(who)
                try:
                    update = await anext(steps)
                except StopAsyncIteration:
                    break
                finally:
                    CALLER.reset(token)
                yield by_component(refs, update)
        finally:
            close = getattr(steps, "aclose", None)  # an async generator: stop it too
            if close is not None:
                await close()

    def start_feedback() -> dict:
        named = {**result_view.feedback_analysing(), "confirmation": ""}
        named.update(feedback_id=None, finding_ratings={}, finding_corrections={})
        return by_component(refs, named)

    def end_feedback(result: Any) -> dict:
        return by_component(refs, result_view.feedback_after(result))

    feedback_resets = [
        *(refs[name] for name in FEEDBACK_OUTPUTS),
        refs["confirmation"],
        refs["feedback_id"],
        refs["finding_ratings"],
        refs["finding_corrections"],
    ]
    refs["analyze"].click(
        start_feedback, None, feedback_resets, api_visibility="private", queue=False
    )
    # Per-backend limits are enforced by Services.gate; the event itself must not serialise users.
    event = refs["analyze"].click(
        named_inputs(analyze, ANALYZE_INPUTS),
        inputs=[refs[ANALYZE_INPUTS[name]] for name in ANALYZE_INPUTS],
        outputs=[refs[name] for name in ANALYZE_OUTPUTS],
        api_name="analyze",
        api_description="Analyze one image: the model's raw answer, the parsed findings, a "
        "readable report and the provenance of exactly what was sent.",
        concurrency_limit=None,
        show_progress="minimal",
    )
    event.then(
        end_feedback,
        inputs=[refs["result_state"]],
        outputs=[refs[name] for name in ("save", "feedback_hint")],
        api_visibility="private",
        queue=False,
    )

    def stopped(result: Any) -> dict:
        if result is not None:
            return {}
        named = {"status": "**Stopped.** Nothing was kept from this analysis."}
        named.update(result_view.feedback_after(None))
        return by_component(refs, named)

    refs["stop"].click(
        stopped,
        inputs=[refs["result_state"]],
        outputs=[refs[name] for name in ("status", "save", "feedback_hint")],
        cancels=[event],
        api_visibility="private",
        queue=False,
    )
    return event


def launch_options(services: Services) -> dict[str, Any]:
    """Keyword arguments for `demo.launch`: privacy defaults (no analytics, no run history, no
    monitoring, errors without tracebacks) plus the server settings."""
    server = services.settings.server
    auth = make_auth(server.auth_users)
    return {
        "auth": auth,
        "auth_message": "MedGemma review: sign in with the account your session organiser gave you."
        if auth
        else None,
        "server_name": server.host,
        "server_port": server.port,
        "root_path": server.root_path or None,
        "max_file_size": f"{server.max_upload_mb}mb",
        "footer_links": ["api"],  # "Use via API": the analyze and save_feedback endpoints
        "run_history": False,
        "enable_monitoring": False,
        "show_error": False,
        "css_paths": [ASSETS / "style.css"],
        # Zoom and pan for the fullscreen preview; launch(js=) runs this function on page load.
        "js": (ASSETS / "zoom.js").read_text(encoding="utf-8"),
        "theme": gr.themes.Soft(primary_hue="blue", neutral_hue="slate"),
        # A global cap on running jobs, async ones included: keep it above the backend limits.
        "max_threads": max(40, 4 * services.settings.backends.concurrency),
        # What the server enforces below Gradio's routes (ui/middleware.py).
        "app_kwargs": {"middleware": [Middleware(Guard, services=services)]},
    }
