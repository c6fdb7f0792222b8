"""Launch the real app in-process on 127.0.0.1 against a loopback model server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from medgemma_ui.backends.config import ProviderConfig
from medgemma_ui.backends.providers.openai_compat import OpenAIConfig
from medgemma_ui.settings import Settings
from tests.support.model_server import ModelServer, free_port


def settings_for(
    server: ModelServer, tmp_path: Path, *configs: ProviderConfig, **backend_changes: object
) -> Settings:
    """The app's settings with the `openai` backend pointing at `server`; `configs` replace or
    add providers' configs, `backend_changes` the shared backend knobs."""
    base = Settings.from_env({})
    openai = OpenAIConfig(base_url=server.base_url, model=server.script.model)
    backends = replace(
        base.backends,
        default_backend="openai",
        first_token_timeout_s=60.0,
        total_timeout_s=120.0,
        health_ttl_s=0.0,
        **backend_changes,
    ).with_config(openai, *configs)
    feedback = replace(base.feedback, db_path=tmp_path / "feedback.sqlite3")
    server_settings = replace(base.server, port=free_port())
    return base.with_changes(backends=backends, feedback=feedback, server=server_settings)


@contextmanager
def running_app(settings: Settings) -> Iterator[str]:
    """Yields the app's local URL; closes the app and stops its image workers afterwards."""
    from medgemma_ui.ui import build_demo, create_services, launch_options

    services = create_services(settings)
    demo = build_demo(services)
    options = launch_options(services)
    demo.launch(prevent_thread_lock=True, quiet=True, **options)
    try:
        yield demo.local_url
    finally:
        demo.close()
        services.prepare_pool.close()
