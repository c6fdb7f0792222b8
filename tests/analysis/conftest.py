"""Fixtures for the analysis pipeline: a loopback model server and the real `openai` backend."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from medgemma_ui.backends import Backend, BackendRegistry
from medgemma_ui.backends.providers.openai_compat import OpenAIConfig
from medgemma_ui.imaging import PreparedImage, prepare
from tests.support.app_runner import settings_for
from tests.support.model_server import ModelServer, Script

# The name the server reports in its stream; the backend is configured with another one so the
# tests can tell which of the two ended up in the result.
SERVER_MODEL = "medgemma-4b-it-from-server"
CONFIGURED_MODEL = "medgemma-configured"


def png_bytes(seed: int = 0, size: tuple[int, int] = (64, 48)) -> bytes:
    image = Image.new("L", size)
    image.putdata(
        [(x * 7 + y * 3 + seed * 11) % 256 for y in range(size[1]) for x in range(size[0])]
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def prepared() -> PreparedImage:
    return prepare(png_bytes())


@pytest.fixture
def make_server() -> Iterator[Callable[..., ModelServer]]:
    servers: list[ModelServer] = []

    def start(answers: list[str], **script: object) -> ModelServer:
        server = ModelServer(Script(answers=answers, model=SERVER_MODEL, **script)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
async def make_backend(tmp_path: Path) -> AsyncIterator[Callable[..., Backend]]:
    registries: list[BackendRegistry] = []

    def build(server: ModelServer, **backend_changes: object) -> Backend:
        settings = settings_for(server, tmp_path)
        backends = replace(settings.backends, **backend_changes)
        backends = backends.with_config(
            replace(backends.config(OpenAIConfig), model=CONFIGURED_MODEL)
        )
        registry = BackendRegistry(backends)
        registries.append(registry)
        return registry.get("openai")

    yield build
    for registry in registries:
        await registry.aclose()
