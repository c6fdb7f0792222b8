"""Registry dispatch, health caching and request validation."""

from __future__ import annotations

import base64
import subprocess
import sys

import pytest

from medgemma_ui.backends import BackendError, BackendRegistry, BackendSettings, GenerationRequest
from medgemma_ui.backends.providers.hf_endpoint import HFEndpointConfig
from medgemma_ui.backends.providers.openai_compat import OpenAIConfig
from medgemma_ui.backends.providers.vertex import VertexConfig
from tests.support.model_server import Reply, chat_stream


def test_request_message_shape_and_validation(jpeg) -> None:
    req = GenerationRequest((jpeg, "Find nodules."))
    assert req.max_tokens == 512 and req.temperature == 0.0
    assert req.images == (jpeg,) and req.prompt == "Find nodules."
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    assert req.messages() == [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": uri}},
                {"type": "text", "text": "Find nodules."},
            ],
        }
    ]
    for bad in ({"max_tokens": 0}, {"max_tokens": 1025}, {"temperature": -1}):
        with pytest.raises(ValueError):
            GenerationRequest((jpeg, "p"), **bad)  # type: ignore[arg-type]
    for content, message in [
        ((jpeg, " "), "blank"),
        ((jpeg,), "prompt"),
        (("p",), "at least one JPEG image"),
        ((b"\x89PNG\r\n", "p"), "JPEG data"),
        ((jpeg, "p", 3), "not int"),
        ([jpeg, "p"], "tuple"),
    ]:
        with pytest.raises(ValueError, match=message):
            GenerationRequest(content)  # type: ignore[arg-type]


def test_several_images_with_text_between_keep_their_order(jpeg, jpeg2) -> None:
    req = GenerationRequest(("Compare the slices.", jpeg, "SLICE 1", jpeg2, "SLICE 2", "Query?"))
    assert req.images == (jpeg, jpeg2)
    assert req.prompt == "Compare the slices.\n\nSLICE 1\n\nSLICE 2\n\nQuery?"
    [message] = req.messages()
    assert [item["type"] for item in message["content"]] == [
        "text",
        "image_url",
        "text",
        "image_url",
        "text",
        "text",
    ]
    assert message["content"][1]["image_url"]["url"].endswith(base64.b64encode(jpeg).decode())
    assert message["content"][3]["image_url"]["url"].endswith(base64.b64encode(jpeg2).decode())


def test_error_kind_is_checked() -> None:
    with pytest.raises(ValueError):
        BackendError("nonsense", "x")


def test_unknown_backend_is_a_backend_error() -> None:
    registry = BackendRegistry(BackendSettings())
    with pytest.raises(BackendError) as info:
        registry.get("gpt")
    assert info.value.kind == "not_configured" and "hf-endpoint" in str(info.value)
    assert registry.names() == ["hf-endpoint", "vertex", "openai", "local"]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (BackendSettings(), "openai"),
        (
            BackendSettings(configs=(VertexConfig(endpoint="projects/p/locations/r/endpoints/e"),)),
            "vertex",
        ),
        (
            BackendSettings(
                configs=(OpenAIConfig(base_url="http://x"), HFEndpointConfig(url="http://y"))
            ),
            "hf-endpoint",
        ),
        (
            BackendSettings(configs=(OpenAIConfig(base_url="http://x"),), default_backend="local"),
            "local",
        ),
    ],
)
def test_default_name(settings, expected) -> None:
    assert BackendRegistry(settings).default_name() == expected


def test_local_backend_does_not_import_torch_until_used() -> None:
    code = (
        "import asyncio, sys\n"
        "from medgemma_ui.backends import BackendRegistry\n"
        "from medgemma_ui.backends import BackendSettings\n"
        "from medgemma_ui.backends.providers.local_transformers import LocalConfig\n"
        "r = BackendRegistry(BackendSettings(configs=(LocalConfig('google/medgemma-4b-it'),)))\n"
        "r.get('local')\n"
        "print(asyncio.run(r.statuses())['local'].state)\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split("\n")[:2] == ["ready", "False False"]


async def test_statuses_are_concurrent_cached_and_forced(server) -> None:
    server.route("/v1/models", [Reply(json={"data": [{"id": "m"}]}, delay=0.3)])
    server.route("/info", [Reply(json={"model_id": "google/medgemma-4b-it"}, delay=0.3)])
    settings = BackendSettings(
        configs=(OpenAIConfig(base_url=server.url), HFEndpointConfig(url=server.url)),
        health_ttl_s=60,
    )
    registry = BackendRegistry(settings)
    import time

    for name in registry.names():  # module imports are a one-time cost, not part of the check
        registry.get(name)
    started = time.monotonic()
    first = await registry.statuses()
    elapsed = time.monotonic() - started
    assert elapsed < 0.55  # both 0.3 s checks ran at the same time
    assert first["openai"].state == "ready" and first["hf-endpoint"].state == "ready"
    assert first["vertex"].state == "not configured" and first["local"].state == "not configured"
    await registry.statuses()
    assert len(server.received) == 2  # cached
    await registry.statuses(force=True)
    assert len(server.received) == 4
    await registry.aclose()


async def test_health_timeout_marks_unreachable(server) -> None:
    server.route("/v1/models", [Reply(json={"data": []}, delay=2)])
    registry = BackendRegistry(
        BackendSettings(configs=(OpenAIConfig(base_url=server.url),)), health_timeout_s=0.2
    )
    statuses = await registry.statuses()
    await registry.aclose()
    assert statuses["openai"].state == "unreachable"


async def test_dispatch_through_the_registry(server, request_) -> None:
    server.route("/v1/chat/completions", [chat_stream(["hi"])])
    registry = BackendRegistry(BackendSettings(configs=(OpenAIConfig(base_url=server.url),)))
    backend = registry.get(registry.default_name())
    assert backend is registry.get("openai")  # created once
    events = [e async for e in backend.stream(request_)]
    await registry.aclose()
    assert events[-1].text == "hi"


async def test_lazy_client_is_one_pool_until_closed_then_a_new_one() -> None:
    import httpx

    from medgemma_ui.backends.http import LazyClient

    made: list[httpx.AsyncClient] = []
    pool = LazyClient(lambda: made.append(httpx.AsyncClient()) or made[-1])
    await pool.aclose()  # nothing made yet: nothing to close
    assert made == []
    first = pool.get()
    assert pool.get() is first and len(made) == 1
    await pool.aclose()
    assert first.is_closed
    second = pool.get()
    assert second is not first and not second.is_closed
    await pool.aclose()
    assert second.is_closed
