"""A scriptable HTTP server on 127.0.0.1 that records every request it receives.

Tests script answers per path (`server.script(path, [Reply(...), SSE(...)])`); the last scripted
answer repeats. SSE answers note whether the client went away before the stream ended
(`Recorded.outcome`, awaited with `server.wait_outcome`): that is how cancellation is observed
from the server's side.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: str
    outcome: str = ""  # how its SSE answer ended: "complete", "cut" or "disconnected"

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def form(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.body.decode()))


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

    `cut=True` aborts the connection after the events (an exception in the body iterator), so the
    client sees an incomplete chunked body.
    """

    events: list[Any]
    done: bool = True
    delay: float = 0.0
    first_delay: float = 0.0
    cut: bool = False
    status: int = 200


Script = Reply | SSE | Callable[[Recorded], "Reply | SSE"]


class _Cut(Exception):
    pass


class LoopbackServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.closed: list[str] = []  # "complete" or "disconnected", one per finished SSE answer
        self._scripts: dict[str, list[Script]] = {}
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._sock = sock
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, log_level="critical", lifespan="off", access_log=False, timeout_keep_alive=30
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )

    def start(self) -> LoopbackServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("loopback server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._sock.close()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.closed.clear()
            self._scripts.clear()

    def script(self, path: str, answers: list[Script]) -> None:
        with self._lock:
            self._scripts[path] = list(answers)

    def requests_to(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def wait_outcome(self, record: Recorded, timeout: float = 5.0) -> str:
        """How this request's SSE answer ended; unaffected by streams of earlier tests that
        finish late on this session-wide server."""
        deadline = time.monotonic() + timeout
        while not record.outcome and time.monotonic() < deadline:
            time.sleep(0.01)
        return record.outcome

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        record = Recorded(
            method=request.method,
            path=request.url.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            query=request.url.query,
        )
        with self._lock:
            self.requests.append(record)
            queue = self._scripts.get(record.path)
            if not queue:
                answer: Script = Reply(404, json={"error": f"no script for {record.path}"})
            else:
                answer = queue.pop(0) if len(queue) > 1 else queue[0]
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

    async def _sse_body(self, sse: SSE, record: Recorded):
        outcome = "disconnected"
        try:
            if sse.first_delay:
                await asyncio.sleep(sse.first_delay)
            for event in sse.events:
                data = event if isinstance(event, str) else json.dumps(event)
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


def chunk(content: str | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    """One OpenAI `chat.completion.chunk`."""
    delta = {"role": "assistant", "content": content} if content is not None else {}
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
