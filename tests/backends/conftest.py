"""Fixtures for backend tests: one loopback server per session, reset for every test."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest
from PIL import Image

from medgemma_ui.backends import GenerationRequest
from tests.support.model_server import ModelServer

FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05}


@pytest.fixture(scope="session")
def _server() -> Iterator[ModelServer]:
    server = ModelServer(openai=False).start()
    yield server
    server.stop()


@pytest.fixture
def server(_server: ModelServer) -> Iterator[ModelServer]:
    _server.reset()
    yield _server
    _server.reset()


@pytest.fixture(scope="session")
def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (120, 30, 200)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="session")
def jpeg2() -> bytes:
    """A second, different image (for requests with several images)."""
    buf = io.BytesIO()
    Image.new("RGB", (24, 40), (10, 200, 90)).save(buf, "JPEG", quality=80)
    return buf.getvalue()


MULTI_TEXTS = ("Compare these slices.", "SLICE 1", "SLICE 2", "Is there a nodule?")


@pytest.fixture
def multi_request(jpeg: bytes, jpeg2: bytes) -> GenerationRequest:
    """Two images with text between them: instruction, image, label, image, label, query."""
    first, label_1, label_2, query = MULTI_TEXTS
    return GenerationRequest((first, jpeg, label_1, jpeg2, label_2, query), max_tokens=32)


def sent_parts(message: dict) -> list[bytes | str]:
    """A sent user message's items back as request content: JPEG bytes and texts, in order."""
    parts: list[bytes | str] = []
    for item in message["content"]:
        if item["type"] == "image_url":
            url = item["image_url"]["url"]
            prefix = "data:image/jpeg;base64,"
            assert url.startswith(prefix)
            parts.append(base64.b64decode(url[len(prefix) :]))
        else:
            assert item["type"] == "text"
            parts.append(item["text"])
    return parts


@pytest.fixture
def request_(jpeg: bytes) -> GenerationRequest:
    return GenerationRequest((jpeg, "Describe this chest X-ray."), max_tokens=64, temperature=0.0)


async def collect(agen) -> list:
    return [event async for event in agen]
