"""Shared test configuration: no test may reach the internet or phone home."""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

# As the entry points do (app.py, `serve`): gradio imported without regenerating its stubs.
from medgemma_ui.fast_import import skip_stub_generation

skip_stub_generation()


def pytest_collection_modifyitems(config, items):
    """Run browser tests last: Playwright's sync API keeps an event loop running in the main
    thread for the whole session, after which `asyncio.run` in another test would fail."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
