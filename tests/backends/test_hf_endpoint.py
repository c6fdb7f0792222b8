"""The Hugging Face endpoint backend (real AsyncInferenceClient) against a loopback TGI."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from huggingface_hub import AsyncInferenceClient

from medgemma_ui.backends import (
    BackendError,
    BackendSettings,
    Completion,
    GenerationRequest,
    StatusUpdate,
    TextDelta,
)
from medgemma_ui.backends.providers.hf_endpoint import HFEndpointBackend, HFEndpointConfig
from tests.backends.conftest import FAST, collect, sent_parts
from tests.support.model_server import SSE, ModelServer, Reply, chat_stream, chunk

TOKEN = "hf_abcdefghijklmnopqrstuvwxyz012345"
PATH = "/v1/chat/completions"
SCHEMA = {"type": "object", "properties": {"finding": {"type": "string"}}}


def make(server: ModelServer, url: str = "", **changes: object) -> HFEndpointBackend:
    settings = BackendSettings(
        configs=(HFEndpointConfig(url=url or server.url, token=TOKEN),),
        connect_timeout_s=2,
        first_token_timeout_s=3,
        total_timeout_s=10,
        wake_wait_s=5,
        max_retries=2,
    )
    return HFEndpointBackend(replace(settings, **changes), **FAST)


def tgi_error(message: str, error_type: str) -> dict[str, str]:
    return {"error": message, "error_type": error_type}


async def test_streams_with_the_exact_tgi_request(server, request_) -> None:
    server.route(PATH, [chat_stream(["Clear ", "lungs."], model="google/medgemma-4b-it")])
    backend = make(server)
    events = await collect(backend.stream(request_))
    await backend.aclose()
    assert events[:2] == [TextDelta("Clear "), TextDelta("lungs.")]
    done = events[2]
    assert isinstance(done, Completion) and len(events) == 3
    assert done.text == "Clear lungs." and done.finish_reason == "stop"
    assert done.model == "google/medgemma-4b-it" and done.usage["completion_tokens"] == 2
    [sent] = server.requests_to(PATH)
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    body = sent.body
    assert body["messages"] == request_.messages()
    assert body["messages"][0]["content"][0]["image_url"]["url"].startswith(
        "data:image/jpeg;base64,"
    )
    assert body["max_tokens"] == 64 and body["temperature"] == 0.0 and body["stream"] is True
    assert "response_format" not in body


async def test_several_images_reach_the_endpoint_in_order(server, multi_request) -> None:
    server.route(PATH, [chat_stream(["ok"])])
    backend = make(server)
    events = await collect(backend.stream(multi_request))
    await backend.aclose()
    assert events[-1].text == "ok"
    [message] = server.requests_to(PATH)[0].body["messages"]
    assert message["role"] == "user"
    assert sent_parts(message) == list(multi_request.content)


@pytest.mark.parametrize("allowed", [True, False])
async def test_tgi_grammar_only_when_allowed(server, jpeg, allowed) -> None:
    server.route(PATH, [chat_stream(["{}"])])
    backend = make(server, structured_output=allowed)
    events = await collect(
        backend.stream(GenerationRequest((jpeg, "JSON please"), json_schema=SCHEMA))
    )
    await backend.aclose()
    body = server.requests_to(PATH)[0].body
    assert events[-1].structured_output is allowed
    if allowed:
        assert body["response_format"] == {"type": "json", "value": SCHEMA}
    else:
        assert "response_format" not in body


async def test_url_ending_in_v1_is_not_doubled(server, request_) -> None:
    server.route(PATH, [chat_stream(["ok"])])
    backend = make(server, url=server.url + "/v1/")
    await collect(backend.stream(request_))
    await backend.aclose()
    assert [r.path for r in server.received] == [PATH]


@pytest.mark.parametrize("body", ["Service Unavailable", "workload is not stopped"])
async def test_waking_endpoint_is_retried_with_progress(server, request_, body) -> None:
    server.route(PATH, [Reply(503, text=body), Reply(503, text=body), chat_stream(["awake"])])
    backend = make(server)
    events = await collect(backend.stream(request_))
    await backend.aclose()
    assert [type(e) for e in events] == [StatusUpdate, StatusUpdate, TextDelta, Completion]
    assert all(e.kind == "waking" and "waking up" in e.message for e in events[:2])
    assert "of 5 s" in events[0].message
    assert events[-1].text == "awake"
    assert len(server.requests_to(PATH)) == 3


async def test_waking_gives_up_after_wake_wait(server, request_) -> None:
    server.route(PATH, [Reply(503, text="Service Unavailable")])
    backend = make(server, wake_wait_s=0.1)
    with pytest.raises(BackendError) as info:
        await collect(backend.stream(request_))
    await backend.aclose()
    assert info.value.kind == "waking" and "waking up" in str(info.value)
    assert 2 <= len(server.requests_to(PATH)) <= 12  # bounded by 0.1 s of 0.01-0.05 s waits


async def test_429_retry_after(server, request_) -> None:
    server.route(
        PATH,
        [
            Reply(
                429,
                json=tgi_error("Model is overloaded", "overloaded"),
                headers={"Retry-After": "0.2"},
            ),
            chat_stream(["ok"]),
        ],
    )
    backend = make(server)
    loop = asyncio.get_running_loop()
    started = loop.time()
    events = await collect(backend.stream(request_))
    await backend.aclose()
    assert loop.time() - started >= 0.2
    assert events[0].kind == "rate_limited" and events[-1].text == "ok"


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (
            Reply(
                401, json={"error": "Authorization header is correct, but the token seems invalid"}
            ),
            "auth",
        ),
        (Reply(404, text="Not Found"), "not_found"),
        (
            Reply(
                422,
                json=tgi_error(
                    "Input validation error: `temperature` must be strictly positive", "validation"
                ),
            ),
            "bad_request",
        ),
        (
            Reply(
                422,
                json=tgi_error(
                    "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. "
                    "Given: 4000 `inputs` tokens and 1024 `max_new_tokens`",
                    "validation",
                ),
            ),
            "too_large",
        ),
        (
            Reply(
                424,
                json=tgi_error(
                    "Request failed during generation: Server error: CUDA error: "
                    "CUBLAS_STATUS_EXECUTION_FAILED when calling `cublasGemmEx`",
                    "generation",
                ),
            ),
            "cuda",
        ),
        (Reply(500, json=tgi_error("Incomplete generation", "incomplete_generation")), "server"),
    ],
)
async def test_tgi_error_bodies(server, request_, reply, kind) -> None:
    server.route(PATH, [reply])
    backend = make(server)
    with pytest.raises(BackendError) as info:
        await collect(backend.stream(request_))
    await backend.aclose()
    assert info.value.kind == kind
    assert len(server.requests_to(PATH)) == 1
    if kind == "cuda":
        assert "fewer max tokens or another backend" in str(info.value)


async def test_cuda_error_inside_the_stream(server, request_) -> None:
    event = tgi_error("CUDA error: CUBLAS_STATUS_EXECUTION_FAILED", "generation")
    server.route(PATH, [SSE([chunk("The "), event], done=False)])
    backend = make(server)
    seen = []
    with pytest.raises(BackendError) as info:
        async for e in backend.stream(request_):
            seen.append(e)
    await backend.aclose()
    assert seen == [TextDelta("The ")] and info.value.kind == "cuda"


@pytest.mark.parametrize(
    ("sse", "kind"),
    [
        (SSE([chunk("part")], cut=True), "network"),
        (SSE([chunk("part")], done=False), "network"),
        (SSE(["{not json"]), "bad_response"),
    ],
)
async def test_broken_streams(server, request_, sse, kind) -> None:
    server.route(PATH, [sse])
    backend = make(server)
    with pytest.raises(BackendError) as info:
        await collect(backend.stream(request_))
    await backend.aclose()
    assert info.value.kind == kind


async def test_first_token_timeout(server, request_) -> None:
    server.route(PATH, [chat_stream(["late"], first_delay=1.5)])
    backend = make(server, first_token_timeout_s=0.3)
    with pytest.raises(BackendError) as info:
        await collect(backend.stream(request_))
    await backend.aclose()
    assert info.value.kind == "timeout"
    assert await asyncio.to_thread(server.wait_outcome, server.received[-1]) == "disconnected"


async def test_cancellation_closes_the_stream_and_keeps_the_session(server, request_) -> None:
    server.route(PATH, [chat_stream(["tok "] * 200, delay=0.02), chat_stream(["again"])])
    backend = make(server)
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in backend.stream(request_):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(server.wait_outcome, server.received[-1]) == "disconnected"
    session = backend._session.get()
    events = await collect(backend.stream(request_))  # the shared session is still usable
    assert events[-1].text == "again" and backend._session.get() is session
    await backend.aclose()


def test_async_inference_client_still_has_the_session_slot_we_preset() -> None:
    client = AsyncInferenceClient(base_url="http://127.0.0.1:1")
    assert hasattr(client, "_async_client") and client._async_client is None


async def test_token_echoed_in_an_error_is_redacted(server, request_) -> None:
    server.route(PATH, [lambda r: Reply(401, text=f"invalid token {r.headers['authorization']}")])
    backend = make(server)
    with pytest.raises(BackendError) as info:
        await collect(backend.stream(request_))
    await backend.aclose()
    assert info.value.kind == "auth"
    for text in (info.value.user_message, info.value.detail, repr(info.value)):
        assert TOKEN not in text


async def test_health(server) -> None:
    server.route(
        "/info",
        [Reply(json={"model_id": "google/medgemma-4b-it"}), Reply(503, text="Service Unavailable")],
    )
    backend = make(server)
    ready = await backend.health()
    asleep = await backend.health()
    assert ready.state == "ready" and ready.model == "google/medgemma-4b-it"
    assert asleep.state == "ready" and "scaled to zero" in asleep.detail
    assert server.requests_to("/info")[0].headers["authorization"] == f"Bearer {TOKEN}"
    await backend.aclose()


def test_a_waking_endpoint_is_polled_at_least_every_5_s() -> None:
    settings = BackendSettings(
        configs=(HFEndpointConfig(url="http://127.0.0.1:9"),), wake_wait_s=300
    )
    backend = HFEndpointBackend(settings)  # the default backoff: 2 s doubling to 15 s
    waking = BackendError("waking", "The endpoint is waking up.", retryable=True)
    waits = [backend._retry_wait(waking, False, 10.0 * n, 0, n) for n in range(8)]
    assert waits[0] == 2.0 and waits[1] == 4.0
    assert all(wait is not None and 0 < wait <= 5.0 for wait in waits)
    rate_limited = BackendError("rate_limited", "Too many.", retryable=True)
    assert backend._retry_wait(rate_limited, False, 0.0, 2, 0) == 8.0  # others keep backing off
