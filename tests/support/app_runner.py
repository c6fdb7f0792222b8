"""Launch the real app in-process on 127.0.0.1 against a loopback model server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from medgemma_ui.settings import Settings
from tests.support.model_server import ModelServer, free_port


def settings_for(server: ModelServer, tmp_path: Path, **backend_changes: object) -> Settings:
    base = Settings.from_env({})
    backends = replace(
        base.backends,
        openai_base_url=server.base_url,
        openai_model=server.script.model,
        default_backend="openai",
        first_token_timeout_s=60.0,
        total_timeout_s=120.0,
        health_ttl_s=0.0,
        **backend_changes,
    )
    feedback = replace(base.feedback, db_path=tmp_path / "feedback.sqlite3")
    server_settings = replace(base.server, port=free_port())
    return base.with_changes(backends=backends, feedback=feedback, server=server_settings)


@contextmanager
def running_app(settings: Settings) -> Iterator[str]:
    """Yields the app's local URL; closes the app afterwards."""
    from medgemma_ui.ui import build_demo, create_services, launch_options

    services = create_services(settings)
    demo = build_demo(services)
    options = launch_options(services)
    demo.launch(prevent_thread_lock=True, quiet=True, **options)
    try:
        yield demo.local_url
    finally:
        demo.close()
