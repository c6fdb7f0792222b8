"""The one fake model server for tests and benchmarks: real HTTP on 127.0.0.1, uvicorn in a thread.

Two ways to use it, also together:

- An OpenAI-compatible model (`ModelServer(Script(...))`, the default): `/v1/chat/completions`
  (SSE streaming and plain), `/v1/models` and `/health`, answering the `Script`'s texts in turn
  after its latency. `base_url` is the `/v1` root to configure the app with.
- Scripted answers per path (`server.route(path, [Reply(...), SSE(...), callable])`): any path,
  any method; the answers are used in turn and the last one repeats; a callable gets the recorded
  request and returns the answer. A routed path wins over the model's own routes. With
  `ModelServer(openai=False)` nothing but the routed paths answers (everything else is 404), as
  a TGI endpoint, a Vertex endpoint or an OAuth token server needs.

Every request is recorded (`received`; `requests` holds the chat completions only, the model's
work). An SSE answer notes how it ended (`Recorded.outcome`: "complete", "cut", "disconnected";
awaited with `wait_outcome`) and when its first event left (`first_token_sent_at`): that is how a
test sees cancellation and latency from the server's side.

`python -m tests.support.model_server PORT FIRST_TOKEN_S TOKEN_S` serves a model until killed
(the concurrency benchmark runs it in its own process and reads `/_records`).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

CHAT_PATH = "/v1/chat/completions"
CXR_ANSWER = json.dumps(
    {
        "cardiac_size": "normal",
        "pulmonary_findings": ["No focal consolidation."],
        "pleural_findings": [],
        "bone_findings": [],
        "impression": "No acute cardiopulmonary abnormality.",
    }
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def split_tokens(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


@dataclass
class Script:
    """What the model answers. `answers` are used in turn (the last one repeats)."""

    answers: list[str] = field(default_factory=lambda: [CXR_ANSWER])
    first_token_delay_s: float = 0.0
    token_delay_s: float = 0.0
    token_size: int = 4
    model: str = "medgemma-test"
    # HTTP status per request in turn (the last repeats); non-200 answers an OpenAI error body.
    statuses: list[int] = field(default_factory=lambda: [200])
    # When set, chooses the answer from the request body (e.g. by the template named in the prompt).
    responder: Callable[[dict[str, Any]], str] | None = None
    # When set, the first-token delay for this request body (instead of `first_token_delay_s`).
    delay_for: Callable[[dict[str, Any]], float] | None = None
    # The error body's message for non-200 answers (default "scripted failure <status>").
    error_message: str | None = None
    # Append the request's headers to the error message, like servers that echo what they got.
    error_echo_headers: bool = False


@dataclass
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    raw: bytes
    query: str
    received_at: float
    outcome: str = ""  # how its SSE answer ended: "complete", "cut" or "disconnected"
    first_token_sent_at: float | None = None  # when its SSE answer's first event left

    @property
    def body(self) -> Any:
        """The JSON body."""
        return json.loads(self.raw)

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.raw.decode()))

    @property
    def disconnected(self) -> bool:
        """The client went away before its SSE answer ended (a cancelled request)."""
        return self.outcome == "disconnected"


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    text: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str | None = None


@dataclass
class SSE:
    """`events` are dicts (sent as JSON) or raw strings; `done` appends `data: [DONE]`.

    `first_delay` waits before the first event, `delay` after each one. `cut=True` aborts the
    connection after the events (an exception in the body iterator), so the client sees an
    incomplete chunked body.
    """

    events: list[Any]
    done: bool = True
    delay: float = 0.0
    first_delay: float = 0.0
    cut: bool = False
    status: int = 200


Answer = Reply | SSE | Callable[[Recorded], "Reply | SSE"]


class _Cut(Exception):
    pass


class ModelServer:
    def __init__(self, script: Script | None = None, *, openai: bool = True, port: int = 0) -> None:
        self.script = script or Script()
        self.openai = openai
        self.received: list[Recorded] = []
        self.closed: list[str] = []  # "complete" or "disconnected", one per finished SSE answer
        self._routes: dict[str, list[Answer]] = {}
        self._lock = threading.Lock()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self._sock = sock
        self.port: int = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])
        config = uvicorn.Config(
            app, log_level="critical", lifespan="off", access_log=False, timeout_keep_alive=30
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible `/v1` root."""
        return f"{self.url}/v1"

    @property
    def requests(self) -> list[Recorded]:
        """The chat completion requests (what the model was asked), in order."""
        return self.requests_to(CHAT_PATH)

    def start(self) -> ModelServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test model server did not start within 10 s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every request and route (a server shared by many tests)."""
        with self._lock:
            self.received.clear()
            self.closed.clear()
            self._routes.clear()

    def route(self, path: str, answers: list[Answer]) -> None:
        """Answer requests to `path` with `answers` in turn; the last one repeats."""
        with self._lock:
            self._routes[path] = list(answers)

    def requests_to(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def wait_outcome(self, record: Recorded, timeout: float = 5.0) -> str:
        """How this request's SSE answer ended; unaffected by streams of earlier tests that
        finish late on a shared server."""
        deadline = time.monotonic() + timeout
        while not record.outcome and time.monotonic() < deadline:
            time.sleep(0.01)
        return record.outcome

    async def _handle(self, request: Request) -> Response:
        record = Recorded(
            method=request.method,
            path=request.url.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            raw=await request.body(),
            query=request.url.query,
            received_at=time.time(),
        )
        with self._lock:
            self.received.append(record)
            queue = self._routes.get(record.path)
            answer: Answer | None = None
            if queue:
                answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if answer is None:
            answer = self._model_answer(record)
        if callable(answer) and not isinstance(answer, Reply | SSE):
            answer = answer(record)
        if isinstance(answer, Reply):
            if answer.delay:
                await asyncio.sleep(answer.delay)
            if answer.json is not None:
                content = json.dumps(answer.json).encode()
                media = answer.content_type or "application/json"
            else:
                content = answer.text.encode()
                media = answer.content_type or "text/plain"
            return Response(content, answer.status, headers=answer.headers, media_type=media)
        return StreamingResponse(
            self._sse_body(answer, record),
            status_code=answer.status,
            media_type="text/event-stream",
        )

    async def _sse_body(self, sse: SSE, record: Recorded) -> AsyncIterator[bytes]:
        outcome = "disconnected"
        try:
            if sse.first_delay:
                await asyncio.sleep(sse.first_delay)
            for event in sse.events:
                data = event if isinstance(event, str) else json.dumps(event)
                if record.first_token_sent_at is None:
                    record.first_token_sent_at = time.time()
                yield f"data: {data}\n\n".encode()
                if sse.delay:
                    await asyncio.sleep(sse.delay)
            if sse.cut:
                outcome = "cut"
                raise _Cut("connection cut on purpose")
            if sse.done:
                yield b"data: [DONE]\n\n"
            outcome = "complete"
        finally:
            with self._lock:
                record.outcome = outcome
                self.closed.append(outcome)

    # The OpenAI-compatible model, answering from `self.script`.

    def _model_answer(self, record: Recorded) -> Reply | SSE:
        if not self.openai:
            return Reply(404, json={"error": f"no route for {record.path}"})
        if record.path == CHAT_PATH and record.method == "POST":
            return self._chat(record)
        if record.path == "/v1/models":
            model = {"id": self.script.model, "object": "model"}
            return Reply(json={"object": "list", "data": [model]})
        if record.path == "/health":
            return Reply(json={"status": "ok"})
        if record.path == "/_records":
            return Reply(json=[_summary(r) for r in self.requests])
        return Reply(404, json={"error": f"no route for {record.path}"})

    def _chat(self, record: Recorded) -> Reply | SSE:
        script = self.script
        body = record.body
        turn = len(self.requests) - 1  # this request is already recorded
        status = script.statuses[min(turn, len(script.statuses) - 1)]
        if status != 200:
            message = script.error_message or f"scripted failure {status}"
            if script.error_echo_headers:
                message += f" (request headers: {record.headers})"
            error = {"message": message, "type": "invalid_request_error"}
            return Reply(status, json={"error": error})
        if script.responder:
            answer = script.responder(body)
        else:
            answer = script.answers[max(0, min(turn, len(script.answers) - 1))]
        delay = script.delay_for(body) if script.delay_for else script.first_token_delay_s
        usage = {"prompt_tokens": 300, "completion_tokens": 60, "total_tokens": 360}
        if not body.get("stream"):
            message = {"role": "assistant", "content": answer}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            completion = {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": script.model,
                "choices": [choice],
                "usage": usage,
            }
            return Reply(json=completion, delay=delay)
        events: list[Any] = [
            chunk(piece, model=script.model, role=False)
            for piece in split_tokens(answer, script.token_size)
        ]
        events.append(chunk(None, "stop", model=script.model, usage=usage))
        return SSE(events, first_delay=delay, delay=script.token_delay_s)


def _summary(record: Recorded) -> dict[str, Any]:
    """What the concurrency benchmark reads back from `/_records`."""
    texts = [
        item["text"] for item in record.body["messages"][0]["content"] if item["type"] == "text"
    ]
    return {
        "prompt": (texts[-1] if texts else "")[:200],
        "received_at": record.received_at,
        "first_token_sent_at": record.first_token_sent_at,
    }


def chunk(
    content: str | None = None, finish: str | None = None, *, role: bool = True, **extra: Any
) -> dict[str, Any]:
    """One OpenAI `chat.completion.chunk`."""
    delta: dict[str, Any] = {}
    if content is not None:
        delta = {"role": "assistant", "content": content} if role else {"content": content}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": extra.pop("model", "medgemma-test"),
        "system_fingerprint": "fp",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        **extra,
    }


def chat_stream(
    words: list[str],
    *,
    finish: str = "stop",
    usage: bool = True,
    model: str = "medgemma-test",
    **kwargs: Any,
) -> SSE:
    """A complete chat completion stream: the words, a finish chunk, a usage chunk."""
    events: list[Any] = [chunk(w, model=model) for w in words]
    events.append(chunk(None, finish, model=model))
    if usage:
        events.append(
            {
                **chunk(None, model=model),
                "choices": [],
                "usage": {
                    "prompt_tokens": 260,
                    "completion_tokens": len(words),
                    "total_tokens": 260 + len(words),
                },
            }
        )
    return SSE(events, **kwargs)


def main() -> None:
    """Serve until killed: `python -m tests.support.model_server PORT FIRST_TOKEN_S TOKEN_S`."""
    import sys

    port, first, per_token = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    server = ModelServer(Script(first_token_delay_s=first, token_delay_s=per_token), port=port)
    server.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
