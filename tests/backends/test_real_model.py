"""A real (tiny, random) Gemma 3 vision model: served by `transformers serve` for the
OpenAI-compatible backend, and loaded in-process by the local backend."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from medgemma_ui.backends import (
    BackendRegistry,
    BackendSettings,
    Completion,
    GenerationRequest,
    StatusUpdate,
    TextDelta,
)
from medgemma_ui.backends.providers.local_transformers import LocalConfig
from medgemma_ui.backends.providers.openai_compat import OpenAIConfig
from tests.backends.conftest import collect
from tests.backends.tiny_gemma import build_tiny_gemma

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def tiny_gemma_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_gemma(tmp_path_factory.mktemp("tiny-gemma") / "model")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def transformers_server(
    tiny_gemma_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    port = _free_port()
    cache = tmp_path_factory.mktemp("hf-cache")
    # Only this subprocess is offline: our own InferenceClient must never see HF_HUB_OFFLINE.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    cli = Path(sys.executable).with_name("transformers")
    log = (tmp_path_factory.mktemp("serve-log") / "serve.log").open("wb")
    proc = subprocess.Popen(
        [str(cli), "serve", str(tiny_gemma_dir), "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"transformers serve exited with {proc.returncode}; see {log.name}"
                )
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"transformers serve did not come up; see {log.name}")
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@pytest.fixture
def real_request(jpeg: bytes) -> GenerationRequest:
    return GenerationRequest((jpeg, "Describe this image."), max_tokens=8)


async def test_openai_backend_streams_from_transformers_serve(
    transformers_server: str, tiny_gemma_dir: Path, real_request: GenerationRequest
) -> None:
    # The base URL without /v1: the backend adds it.
    config = OpenAIConfig(base_url=transformers_server, model=str(tiny_gemma_dir))
    settings = BackendSettings(
        configs=(config,),
        first_token_timeout_s=60,
        total_timeout_s=120,
    )
    registry = BackendRegistry(settings)
    try:
        statuses = await registry.statuses()
        events = await collect(registry.get("openai").stream(real_request))
    finally:
        await registry.aclose()
    assert statuses["openai"].state == "ready"
    deltas = [e for e in events if isinstance(e, TextDelta)]
    done = events[-1]
    assert len(deltas) >= 2, events  # streamed, not one block
    assert isinstance(done, Completion) and done.finish_reason in {"length", "stop"}
    assert done.text == "".join(d.text for d in deltas)


async def test_openai_backend_with_schema_is_accepted(
    transformers_server: str, tiny_gemma_dir: Path, jpeg: bytes
) -> None:
    # transformers serve ignores response_format (it logs "Ignoring unsupported fields"), so this
    # only checks that sending it does not break the request.
    config = OpenAIConfig(base_url=transformers_server + "/v1", model=str(tiny_gemma_dir))
    settings = BackendSettings(configs=(config,))
    registry = BackendRegistry(settings)
    request = GenerationRequest((jpeg, "JSON."), max_tokens=4, json_schema={"type": "object"})
    try:
        events = await collect(registry.get("openai").stream(request))
    finally:
        await registry.aclose()
    assert events[-1].structured_output is True and events[-1].finish_reason is not None


async def test_local_backend_streams_in_process(
    tiny_gemma_dir: Path, real_request: GenerationRequest
) -> None:
    registry = BackendRegistry(BackendSettings(configs=(LocalConfig(model=str(tiny_gemma_dir)),)))
    backend = registry.get("local")
    try:
        first = await collect(backend.stream(real_request))
        second = await collect(backend.stream(real_request))
    finally:
        await registry.aclose()
    assert isinstance(first[0], StatusUpdate) and first[0].kind == "loading"
    assert not any(isinstance(e, StatusUpdate) for e in second)  # loaded once
    done = first[-1]
    assert isinstance(done, Completion)
    assert sum(isinstance(e, TextDelta) for e in first) >= 2
    assert done.usage["completion_tokens"] == 8 and done.finish_reason == "length"
    assert done.usage["prompt_tokens"] > 4  # the image's soft tokens were expanded into the prompt


async def test_local_backend_cancellation_stops_generation(
    tiny_gemma_dir: Path, jpeg: bytes
) -> None:
    registry = BackendRegistry(BackendSettings(configs=(LocalConfig(model=str(tiny_gemma_dir)),)))
    backend = registry.get("local")
    request = GenerationRequest((jpeg, "Long answer."), max_tokens=1024)
    got_text = asyncio.Event()

    async def consume() -> None:
        async for event in backend.stream(request):
            if isinstance(event, TextDelta):
                got_text.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_text.wait(), 60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The worker thread sees the stop flag at its next token; the next request is served promptly.
    events = await asyncio.wait_for(
        collect(backend.stream(GenerationRequest((jpeg, "Short."), max_tokens=2))), 30
    )
    await registry.aclose()
    assert events[-1].usage["completion_tokens"] == 2


def _series_request(jpeg: bytes, images: int) -> GenerationRequest:
    content: list[bytes | str] = ["Review the slices below."]
    for k in range(1, images + 1):
        content += [jpeg, f"SLICE {k}"]
    return GenerationRequest((*content, "Describe them."), max_tokens=2)


async def test_several_images_go_through_the_real_processor(
    tiny_gemma_dir: Path, jpeg: bytes
) -> None:
    """Each image of a series request is expanded into the prompt by the model's own processor:
    every added image (with its `SLICE k`) adds the same number of prompt tokens."""
    registry = BackendRegistry(BackendSettings(configs=(LocalConfig(model=str(tiny_gemma_dir)),)))
    backend = registry.get("local")
    try:
        tokens = []
        for images in (1, 2, 3):
            done = (await collect(backend.stream(_series_request(jpeg, images))))[-1]
            assert isinstance(done, Completion)
            tokens.append(done.usage["prompt_tokens"])
    finally:
        await registry.aclose()
    first_step, second_step = tokens[1] - tokens[0], tokens[2] - tokens[1]
    assert first_step == second_step and first_step > 4, tokens


async def test_several_images_through_transformers_serve(
    transformers_server: str, tiny_gemma_dir: Path, jpeg: bytes
) -> None:
    config = OpenAIConfig(base_url=transformers_server, model=str(tiny_gemma_dir))
    settings = BackendSettings(configs=(config,), first_token_timeout_s=60, total_timeout_s=120)
    registry = BackendRegistry(settings)
    try:
        events = await collect(registry.get("openai").stream(_series_request(jpeg, 3)))
    finally:
        await registry.aclose()
    done = events[-1]
    assert isinstance(done, Completion) and done.finish_reason in {"length", "stop"}
