"""Backends that fail on purpose: DNS failure, a 503 that passes, a CUDA 500, and one slow request
that must not slow anybody else down.

The failure kinds, user messages and retry rules asserted here are the documented ones in
`medgemma_ui/backends/base.py` and `errors.py`: network errors and CUDA errors are not retried; the
OpenAI-compatible backend reports a 503 as kind "server" (retryable, bounded by `max_retries`,
not by the wake wait, which is for scaled-to-zero Hugging Face endpoints).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from medgemma_ui.backends import (
    BackendError,
    BackendRegistry,
    BackendSettings,
    Completion,
    GenerationRequest,
    StatusUpdate,
    TextDelta,
)
from medgemma_ui.backends.providers.openai_compat import OpenAIConfig
from medgemma_ui.ui.handlers.result_view import RESULT_OUTPUTS
from tests.support.app_runner import running_app, settings_for
from tests.support.model_server import CXR_ANSWER, ModelServer, Script

SMALL_BACKOFF = {"backoff_base_s": 0.2, "backoff_max_s": 0.5}
# The analyze API's outputs, in order: the image sent, then the result area (states not sent).
OUTPUT_NAMES = ("preview", *(name for name in RESULT_OUTPUTS if name != "result_state"))
SLOW_MARKER = "[slow]"
SLOW_DELAY_S = 20.0


@pytest.fixture(scope="module")
def request_() -> GenerationRequest:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (90, 90, 90)).save(buf, "JPEG", quality=90)
    return GenerationRequest((buf.getvalue(), "Describe this chest X-ray."), max_tokens=64)


def openai_backend(base_url: str, **changes: Any):
    settings = BackendSettings(
        configs=(OpenAIConfig(base_url=base_url, model="medgemma-test"),),
        connect_timeout_s=2.0,
        first_token_timeout_s=5.0,
        total_timeout_s=10.0,
        max_retries=3,
        wake_wait_s=300.0,
    )
    registry = BackendRegistry(
        replace(settings, **changes), backend_options={"openai": SMALL_BACKOFF}
    )
    return registry, registry.get("openai")


def count_attempts(backend) -> list[float]:
    """Wrap the backend's single-try method; every call is one attempt (one HTTP request)."""
    attempts: list[float] = []
    original = backend._attempt

    def counting(*args: Any, **kwargs: Any):
        attempts.append(time.monotonic())
        return original(*args, **kwargs)

    backend._attempt = counting
    return attempts


def one_sentence(message: str) -> bool:
    return message.endswith(".") and ". " not in message and "\n" not in message


async def test_dns_failure_is_one_network_error_and_no_retry_storm(request_) -> None:
    # The .invalid TLD never resolves (RFC 6761).
    registry, backend = openai_backend("http://nonexistent-host.invalid:9/v1", max_retries=3)
    attempts = count_attempts(backend)
    events: list[Any] = []
    started = time.monotonic()
    with pytest.raises(BackendError) as info:
        async with asyncio.timeout(10):
            async for event in backend.stream(request_):
                events.append(event)
    elapsed = time.monotonic() - started
    status = await backend.health()
    await registry.aclose()

    error = info.value
    assert error.kind == "network"
    assert error.retryable is False
    assert one_sentence(error.user_message), error.user_message
    assert "connect" in error.user_message.lower()
    assert "nonexistent-host.invalid" in error.detail  # the log line says which address failed
    assert "Traceback" not in error.user_message
    # No retry storm: exactly one try although max_retries is 3, no "retrying" updates, and it
    # ends within the connect timeout rather than after a backoff series.
    assert len(attempts) == 1
    assert events == []
    assert elapsed < 2.0 + 1.0
    assert status.state == "unreachable"


async def test_openai_503_for_two_seconds_then_text(request_) -> None:
    failures = 6  # backoff 0.2, 0.4, 0.5, 0.5, 0.5, 0.5 s = 2.6 s of "Service Unavailable"
    script = Script(statuses=[503] * failures + [200], error_message="Service Unavailable")
    with ModelServer(script) as server:
        registry, backend = openai_backend(server.base_url, max_retries=failures)
        attempts = count_attempts(backend)
        started = time.monotonic()
        async with asyncio.timeout(20):
            events = [event async for event in backend.stream(request_)]
        elapsed = time.monotonic() - started
        await registry.aclose()

    updates = [e for e in events if isinstance(e, StatusUpdate)]
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert events[: len(updates)] == updates  # every wait is reported before any text
    assert len(updates) == failures
    # The OpenAI-compatible backend reports a 503 as a temporary server failure ("retrying"),
    # not as a waking endpoint: that is the Hugging Face backend's kind.
    assert {u.kind for u in updates} == {"retrying"}
    assert all("temporarily unavailable" in u.message for u in updates)
    assert all(one_sentence(u.message) for u in updates)
    assert "".join(d.text for d in deltas) == CXR_ANSWER
    completion = events[-1]
    assert isinstance(completion, Completion) and completion.text == CXR_ANSWER
    assert len(server.requests) == failures + 1 == len(attempts)
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    expected = [0.2, 0.4, 0.5, 0.5, 0.5, 0.5]
    for gap, wait in zip(gaps, expected, strict=True):
        assert wait - 0.05 <= gap <= wait + 1.0, gaps
    assert 2.5 <= completion.timings_ms["waited"] / 1000 <= 2.7
    assert 2.5 <= elapsed < 8.0


async def test_openai_503_gives_up_after_max_retries_not_after_the_wake_wait(request_) -> None:
    script = Script(statuses=[503], error_message="Service Unavailable")
    with ModelServer(script) as server:
        registry, backend = openai_backend(server.base_url, max_retries=2, wake_wait_s=300.0)
        events: list[Any] = []
        started = time.monotonic()
        with pytest.raises(BackendError) as info:
            async with asyncio.timeout(10):
                async for event in backend.stream(request_):
                    events.append(event)
        elapsed = time.monotonic() - started
        await registry.aclose()

    error = info.value
    assert error.kind == "server" and error.status == 503 and error.retryable is True
    assert one_sentence(error.user_message), error.user_message
    assert "temporarily unavailable" in error.user_message
    assert [e.kind for e in events] == ["retrying", "retrying"]
    assert len(server.requests) == 3  # the first try and max_retries=2 more
    assert elapsed < 3.0  # 0.2 + 0.4 s of backoff, far from the 300 s wake wait


async def test_cuda_error_body_is_not_retried_and_names_the_fix(request_) -> None:
    script = Script(
        statuses=[500, 200],
        error_message="CUDA error: CUBLAS_STATUS_EXECUTION_FAILED when calling `cublasGemmEx`",
    )
    with ModelServer(script) as server:
        registry, backend = openai_backend(server.base_url, max_retries=3)
        events: list[Any] = []
        with pytest.raises(BackendError) as info:
            async with asyncio.timeout(10):
                async for event in backend.stream(request_):
                    events.append(event)
        await registry.aclose()

    error = info.value
    assert error.kind == "cuda" and error.status == 500 and error.retryable is False
    assert one_sentence(error.user_message), error.user_message
    assert "fewer max tokens" in error.user_message
    assert "another backend" in error.user_message
    assert "CUBLAS_STATUS_EXECUTION_FAILED" in error.detail
    # Not retried, although the next answer would have been a 200.
    assert events == []
    assert len(server.requests) == 1


# -- other users are not slowed by one hanging request ------------------------------------------


def prompt_text(body: dict[str, Any]) -> str:
    return str(body["messages"][0]["content"][1]["text"])


def analyze_args(path: Path, prompt: str) -> list[Any]:
    return [handle_file(str(path)), None, 0, "openai", "cxr", prompt, 256, 0.0, True, 0]


def wait_until(condition, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


@pytest.fixture
def png_path(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    path = tmp_path / "scan.png"
    Image.fromarray(rng.integers(0, 255, (256, 256), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def slow_app(tmp_path: Path) -> Iterator[tuple[ModelServer, str]]:
    script = Script(
        delay_for=lambda body: SLOW_DELAY_S if prompt_text(body).startswith(SLOW_MARKER) else 0.0
    )
    with ModelServer(script) as server, running_app(settings_for(server, tmp_path)) as url:
        yield server, url


def test_a_hanging_request_does_not_slow_other_users(slow_app, png_path) -> None:
    server, url = slow_app
    slow_client = Client(url, verbose=False, analytics_enabled=False)
    fast_client = Client(url, verbose=False, analytics_enabled=False)

    def slow_requests():
        return [r for r in server.requests if prompt_text(r.body).startswith(SLOW_MARKER)]

    slow_job = slow_client.submit(
        *analyze_args(png_path, f"{SLOW_MARKER} Describe this chest X-ray as JSON."),
        api_name="/analyze",
    )
    try:
        assert wait_until(lambda: len(slow_requests()) == 1, timeout=15), "slow job never arrived"
        slow_record = slow_requests()[0]

        started = time.monotonic()
        outputs = fast_client.predict(*analyze_args(png_path, ""), api_name="/analyze")
        named = dict(zip(OUTPUT_NAMES, outputs, strict=True))
        raw, parsed, status = named["raw"], named["parsed"], named["status"]
        fast_elapsed = time.monotonic() - started

        assert raw == CXR_ANSWER and parsed["cardiac_size"] == "normal"
        assert status.startswith("Done")
        assert fast_elapsed < 8.0, f"a normal analysis took {fast_elapsed:.1f} s"
        # ...while the slow one is still waiting for its first token.
        assert not slow_job.done()
        assert slow_record.first_token_sent_at is None and not slow_record.disconnected
        assert len(server.requests) == 2
    finally:
        slow_job.cancel()

    # Stop closes the backend's HTTP stream: the model server sees the client go away.
    assert wait_until(lambda: slow_record.disconnected, timeout=10), "no disconnect after cancel"
    assert slow_record.first_token_sent_at is None
    assert time.time() - slow_record.received_at < SLOW_DELAY_S
