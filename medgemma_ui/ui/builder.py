"""Compose the page from its components and wire the events (the only place that does both)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from medgemma_ui.ui.access import make_auth
from medgemma_ui.ui.components import (
    examples,
    feedback_panel,
    header,
    image_panel,
    model_panel,
    result_panel,
    review_tab,
)
from medgemma_ui.ui.handlers import analyze as analyze_handlers
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
        with gr.Tabs():
            with gr.Tab("Analyse", id="analyse"):
                refs.update(image_panel.render(services.settings.image_limits.max_frames))
                refs.update(model_panel.render(services))
                examples.render(refs)
                refs.update(result_panel.render())
                refs.update(feedback_panel.render(services))
            with gr.Tab("Review feedback", id="review"):
                refs.update(review_tab.render(services))
        image_panel.listen(refs, services)
        model_panel.listen(refs, services, demo)
        analysis_event = _wire_analysis(refs, services)
        feedback_panel.listen(refs, services, demo, analysis_event)
        review_tab.listen(refs, services)
    demo.queue(default_concurrency_limit=None, max_size=services.settings.server.queue_size)
    return demo


def _wire_analysis(refs: dict[str, Any], services: Services) -> Any:
    async def analyze(
        file_path: str | None,
        window: str | None,
        frame: float | None,
        backend: str,
        template: str,
        prompt: str | None,
        max_tokens: float,
        temperature: float,
        structured: bool,
        retries: float,
        oauth_token: gr.OAuthToken | None = None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's documented idiom)
    ):
        services.require_access(oauth_token)
        async for update in analyze_handlers.analyze(
            file_path,
            window,
            frame,
            backend,
            template,
            prompt,
            max_tokens,
            temperature,
            structured,
            retries,
            services,
            progress,
        ):
            yield update

    inputs = [
        refs["upload"],
        refs["window"],
        refs["frame"],
        refs["backend"],
        refs["template"],
        refs["prompt"],
        refs["max_tokens"],
        refs["temperature"],
        refs["structured"],
        refs["retries"],
    ]
    outputs = [
        refs["raw"],
        refs["parsed"],
        refs["validity"],
        refs["status"],
        refs["timings"],
        refs["result_state"],
    ]
    # Per-backend limits are enforced by Services.gate; the event itself must not serialise users.
    event = refs["analyze"].click(
        analyze,
        inputs=inputs,
        outputs=outputs,
        api_name="analyze",
        concurrency_limit=None,
        show_progress="minimal",
    )
    refs["stop"].click(None, None, None, cancels=[event])
    return event


def launch_options(services: Services) -> dict[str, Any]:
    """Keyword arguments for `demo.launch`: privacy defaults from DESIGN.md plus server settings."""
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
        "footer_links": [],
        "run_history": False,
        "enable_monitoring": False,
        "show_error": False,
        "css_paths": [ASSETS / "style.css"],
        # Zoom and pan for the fullscreen preview; launch(js=) runs this function on page load.
        "js": (ASSETS / "zoom.js").read_text(encoding="utf-8"),
        "theme": gr.themes.Soft(primary_hue="blue", neutral_hue="slate"),
        # A global cap on running jobs, async ones included: keep it above the backend limits.
        "max_threads": max(40, 4 * services.settings.backends.concurrency),
    }
