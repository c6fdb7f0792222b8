"""The OpenAI-compatible backend against a loopback server speaking the OpenAI SSE protocol."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace

import pytest

from medgemma_ui.backends import (
    BackendError,
    BackendSettings,
    Completion,
    GenerationRequest,
    StatusUpdate,
    TextDelta,
)
from medgemma_ui.backends.providers.openai_compat import (
    OpenAICompatBackend,
    OpenAIConfig,
    api_root,
)
from tests.backends.conftest import FAST, collect, sent_parts
from tests.support.model_server import SSE, ModelServer, Reply, chat_stream, chunk

KEY = "local-secret-key-7f3a9"
PATH = "/v1/chat/completions"
SCHEMA = {"type": "object", "properties": {"finding": {"type": "string"}}, "required": ["finding"]}


def make(
    server: ModelServer,
    suffix: str = "/v1",
    *,
    api_key: str = KEY,
    model: str = "medgemma-4b-it",
    **changes: object,
) -> OpenAICompatBackend:
    config = OpenAIConfig(base_url=server.url + suffix, api_key=api_key, model=model)
    settings = BackendSettings(
        configs=(config,),
        connect_timeout_s=2,
        first_token_timeout_s=3,
        total_timeout_s=10,
        max_retries=2,
    )
    return OpenAICompatBackend(replace(settings, **changes), **FAST)


async def test_streams_text_then_one_completion_with_the_exact_request(server, request_) -> None:
    server.route(PATH, [chat_stream(["No ", "acute ", "findings."])])
    backend = make(server)
    events = await collect(backend.stream(request_))
    await backend.aclose()

    assert [type(e) for e in events] == [TextDelta, TextDelta, TextDelta, Completion]
    assert [e.text for e in events[:3]] == ["No ", "acute ", "findings."]
    done = events[-1]
    assert done.text == "No acute findings."
    assert done.finish_reason == "stop"
    assert done.usage == {"prompt_tokens": 260, "completion_tokens": 3, "total_tokens": 263}
    assert done.model == "medgemma-test"
    assert done.structured_output is False
    assert done.timings_ms["first_token"] <= done.timings_ms["total"]

    [sent] = server.requests_to(PATH)
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    body = sent.body
    assert body["model"] == "medgemma-4b-it"
    assert body["max_tokens"] == 64 and body["temperature"] == 0.0 and body["stream"] is True
    assert "response_format" not in body
    [message] = body["messages"]
    assert message["role"] == "user"
    image, text = message["content"]
    assert image["type"] == "image_url"
    prefix = "data:image/jpeg;base64,"
    assert image["image_url"]["url"].startswith(prefix)
    assert base64.b64decode(image["image_url"]["url"][len(prefix) :]) == request_.images[0]
    assert text == {"type": "text", "text": "Describe this chest X-ray."}


async def test_several_images_reach_the_server_in_order(server, multi_request) -> None:
    server.route(PATH, [chat_stream(["ok"])])
    backend = make(server)
    events = await collect(backend.stream(multi_request))
    await backend.aclose()
    assert events[-1].text == "ok"
    [message] = server.requests_to(PATH)[0].body["messages"]
    assert message["role"] == "user"
    assert sent_parts(message) == list(multi_request.content)


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/", "/v1/chat/completions"])
async def test_base_url_with_or_without_v1(server, request_, suffix) -> None:
    server.route(PATH, [chat_stream(["ok"])])
    backend = make(server, suffix)
    events = await collect(backend.stream(request_))
    await backend.aclose()
    assert events[-1].text == "ok"
    assert len(server.requests_to(PATH)) == 1


def test_api_root_keeps_a_prefix_path() -> None:
    assert api_root("http://h:1/ollama/v1") == "http://h:1/ollama/v1"
    assert api_root("http://h:1/ollama") == "http://h:1/ollama/v1"


@pytest.mark.parametrize("allowed", [True, False])
async def test_json_schema_sent_only_when_allowed(server, jpeg, allowed) -> None:
    server.route(PATH, [chat_stream(['{"finding": "clear"}'])])
    backend = make(server, structured_output=allowed)
    req = GenerationRequest((jpeg, "Report as JSON."), json_schema=SCHEMA)
    events = await collect(backend.stream(req))
    await backend.aclose()
    body = server.requests_to(PATH)[0].body
    assert events[-1].structured_output is allowed
    if allowed:
        assert body["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "findings", "schema": SCHEMA, "strict": True},
        }
    else:
        assert "response_format" not in body


async def test_no_api_key_means_no_authorization_header(server, request_) -> None:
    server.route(PATH, [chat_stream(["ok"])])
    backend = make(server, api_key="")
    await collect(backend.stream(request_))
    await backend.aclose()
    assert "authorization" not in server.requests_to(PATH)[0].headers


async def test_model_discovered_from_v1_models_when_not_set(server, request_) -> None:
    server.route("/v1/models", [Reply(json={"object": "list", "data": [{"id": "medgemma:4b"}]})])
    server.route(PATH, [chat_stream(["ok"])])
    backend = make(server, model="")
    await collect(backend.stream(request_))
    status = await backend.health()
    await backend.aclose()
    assert server.requests_to(PATH)[0].body["model"] == "medgemma:4b"
    assert status.state == "ready" and status.model == "medgemma:4b"


async def test_non_streaming_json_answer_is_accepted(server, request_) -> None:
    answer = {
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "fine"},
                "finish_reason": "length",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    server.route(PATH, [Reply(json=answer)])
    backend = make(server)
    events = await collect(backend.stream(request_))
    await backend.aclose()
    assert events[0] == TextDelta("fine")
    assert events[-1].finish_reason == "length" and events[-1].usage["total_tokens"] == 2


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (Reply(401, json={"error": {"message": "Invalid API key"}}), "auth"),
        (Reply(403, text="Forbidden"), "auth"),
        (
            Reply(404, json={"object": "error", "message": "The model `x` does not exist."}),
            "not_found",
        ),
        (Reply(422, json={"detail": [{"msg": "field required"}]}), "bad_request"),
        (
            Reply(
                400,
                json={
                    "object": "error",
                    "message": "This model's maximum context length is 8192 tokens.",
                },
            ),
            "too_large",
        ),
        (Reply(413, text="Request Entity Too Large"), "too_large"),
        (
            Reply(
                500,
                json={
                    "error": "CUDA error: CUBLAS_STATUS_EXECUTION_FAILED when calling cublasGemmEx"
                },
            ),
            "cuda",
        ),
        (Reply(500, text="Internal Server Error"), "server"),
        (Reply(200, text="<html>login page</html>", content_type="text/html"), "bad_response"),
    ],
)
async def test_error_kinds_are_not_retried(server, request_, reply, kind) -> None:
    server.route(PATH, [reply])
    backend = make(server)
    with pytest.raises(BackendError) as info:
        await collect(backend.stream(request_))
    await backend.aclose()
    assert info.value.kind == kind
    assert info.value.retryable is False
    assert len(server.requests_to(PATH)) == 1
    message = str(info.value)
    assert message == info.value.user_message
    assert message.endswith(".") and message.count(". ") == 0


async def test_cuda_message_names_the_fix(server, request_) -> None:
    server.route(PATH, [Reply(500, json={"error": "CUDA error: CUBLAS_STATUS_EXECUTION_FAILED"})])
    backend = make(server)
    with pytest.raises(BackendError) as info:
        await collect(backend.stream(request_))
    await backend.aclose()
    assert "fewer max tokens or another backend" in info.value.user_message


async def test_429_honours_retry_after_then_streams(server, request_) -> None:
    server.route(
        PATH,
        [
            Reply(429, json={"error": "slow down"}, headers={"Retry-After": "0.2"}),
            chat_stream(["ok"]),
        ],
    )
    backend = make(server)
    loop = asyncio.get_running_loop()
    started = loop.time()
    events = await collect(backend.stream(request_))
    elapsed = loop.time() - started
    await backend.aclose()
    assert isinstance(events[0], StatusUpdate) and events[0].kind == "rate_limited"
    assert events[1:] == [TextDelta("ok"), events[-1]] and isinstance(events[-1], Completion)
    assert elapsed >= 0.2  # the backoff alone would have been 0.01 s
    assert len(server.requests_to(PATH)) == 2


async def test_429_gives_up_after_max_retries(server, request_) -> None:
    server.route(PATH, [Reply(429, json={"error": "slow down"}, headers={"Retry-After": "0"})])
    backend = make(server, max_retries=2)
    updates = []
    with pytest.raises(BackendError) as info:
        async for event in backend.stream(request_):
            updates.append(event)
    await backend.aclose()
    assert info.value.kind == "rate_limited"
    assert len(updates) == 2 and all(isinstance(u, StatusUpdate) for u in updates)
    assert len(server.requests_to(PATH)) == 3


async def test_503_is_retried_as_temporarily_unavailable(server, request_) -> None:
    server.route(PATH, [Reply(503, text="Service Unavailable"), chat_stream(["ok"])])
    backend = make(server)
    events = await collect(backend.stream(request_))
    await backend.aclose()
    assert events[0].kind == "retrying" and events[-1].text == "ok"


@pytest.mark.parametrize(
    "sse", [SSE([chunk("partial ")], cut=True), SSE([chunk("partial ")], done=False)]
)
async def test_cut_stream_is_a_network_error_after_the_partial_text(server, request_, sse) -> None:
    server.route(PATH, [sse])
    backend = make(server)
    seen = []
    with pytest.raises(BackendError) as info:
        async for event in backend.stream(request_):
            seen.append(event)
    await backend.aclose()
    assert seen == [TextDelta("partial ")]
    assert info.value.kind == "network"
    assert len(server.requests_to(PATH)) == 1  # text was shown: no silent retry


async def test_in_stream_error_event(server, request_) -> None:
    server.route(
        PATH,
        [
            SSE(
                [
                    chunk("a"),
                    {
                        "error": "CUDA error: CUBLAS_STATUS_EXECUTION_FAILED",
                        "error_type": "generation",
                    },
                ]
            )
        ],
    )
    backend = make(server)
    with pytest.raises(BackendError) as info:
        await collect(backend.stream(request_))
    await backend.aclose()
    assert info.value.kind == "cuda"


async def test_non_json_sse_data_is_a_bad_response(server, request_) -> None:
    server.route(PATH, [SSE(["this is not json"])])
    backend = make(server)
    with pytest.raises(BackendError) as info:
        await collect(backend.stream(request_))
    await backend.aclose()
    assert info.value.kind == "bad_response"


async def test_first_token_timeout_closes_the_stream(server, request_) -> None:
    server.route(PATH, [chat_stream(["late"], first_delay=1.5)])
    backend = make(server, first_token_timeout_s=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(BackendError) as info:
        await collect(backend.stream(request_))
    assert loop.time() - started < 1.2
    await backend.aclose()
    assert info.value.kind == "timeout"
    assert await asyncio.to_thread(server.wait_outcome, server.received[-1]) == "disconnected"


async def test_total_timeout(server, request_) -> None:
    server.route(PATH, [chat_stream(["a"] * 20, delay=0.1)])
    backend = make(server, total_timeout_s=0.5)
    with pytest.raises(BackendError) as info:
        await collect(backend.stream(request_))
    await backend.aclose()
    assert info.value.kind == "timeout" and "did not finish" in info.value.user_message


async def test_cancelling_the_consumer_closes_the_http_stream(server, request_) -> None:
    server.route(PATH, [chat_stream(["tok "] * 200, delay=0.02)])
    backend = make(server)
    first = asyncio.Event()
    seen: list = []

    async def consume() -> None:
        async for event in backend.stream(request_):
            seen.append(event)
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(server.wait_outcome, server.received[-1]) == "disconnected"
    assert 1 <= len(seen) < 200
    await backend.aclose()


async def test_secret_echoed_by_the_server_is_redacted(server, request_) -> None:
    def echo(record):
        return Reply(401, text=f"bad credentials: {record.headers['authorization']} (key={KEY})")

    server.route(PATH, [echo])
    backend = make(server)
    with pytest.raises(BackendError) as info:
        await collect(backend.stream(request_))
    await backend.aclose()
    error = info.value
    assert error.kind == "auth"
    assert "bad credentials" in error.detail  # the detail is kept, only the secret is gone
    for text in (error.user_message, error.detail, str(error), repr(error)):
        assert KEY not in text


async def test_connection_refused_is_a_network_error(request_) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = OpenAICompatBackend(
        BackendSettings(configs=(OpenAIConfig(base_url=f"http://127.0.0.1:{port}/v1"),)), **FAST
    )
    with pytest.raises(BackendError) as info:
        await collect(backend.stream(request_))
    status = await backend.health()
    await backend.aclose()
    assert info.value.kind == "network"
    assert status.state == "unreachable"


async def test_not_configured(request_) -> None:
    backend = OpenAICompatBackend(BackendSettings())
    assert not backend.configured
    with pytest.raises(BackendError) as info:
        await collect(backend.stream(request_))
    assert info.value.kind == "not_configured" and "MEDGEMMA_OPENAI_BASE_URL" in str(info.value)
    assert (await backend.health()).state == "not configured"


async def test_health_falls_back_to_slash_health(server) -> None:
    server.route("/v1/models", [Reply(500, text="no cache")])
    server.route("/health", [Reply(json={"status": "ok"})])
    backend = make(server)
    status = await backend.health()
    await backend.aclose()
    assert status.state == "ready"
    assert [r.path for r in server.received] == ["/v1/models", "/health"]
