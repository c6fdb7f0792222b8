"""Fixtures for backend tests: one loopback server per session, reset for every test."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image

from medgemma_ui.backends import GenerationRequest
from tests.backends.loopback import LoopbackServer

FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05}


@pytest.fixture(scope="session")
def _server() -> Iterator[LoopbackServer]:
    server = LoopbackServer().start()
    yield server
    server.stop()


@pytest.fixture
def server(_server: LoopbackServer) -> Iterator[LoopbackServer]:
    _server.reset()
    yield _server
    _server.reset()


@pytest.fixture(scope="session")
def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (120, 30, 200)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def request_(jpeg: bytes) -> GenerationRequest:
    return GenerationRequest(jpeg, "Describe this chest X-ray.", max_tokens=64, temperature=0.0)


async def collect(agen) -> list:
    return [event async for event in agen]
