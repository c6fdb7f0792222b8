"""A real OpenAI-compatible HTTP server on 127.0.0.1 for UI tests and benchmarks.

It speaks `/v1/chat/completions` (SSE streaming and plain), `/v1/models` and `/health`, answers
with scripted text after a configurable latency, and records every request it receives so tests
can assert on exactly what left the app. Runs uvicorn in a background thread.
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
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

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
    """What the server answers. `answers` are used in turn (the last one repeats)."""

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
class RecordedRequest:
    body: dict[str, Any]
    headers: dict[str, str]
    received_at: float
    first_token_sent_at: float | None = None
    disconnected: bool = False


class ModelServer:
    def __init__(self, script: Script | None = None) -> None:
        self.script = script or Script()
        self.requests: list[RecordedRequest] = []
        self.port = free_port()
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.on_request: Callable[[RecordedRequest], None] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _next_answer(self) -> str:
        with self._lock:
            index = min(len(self.requests) - 1, len(self.script.answers) - 1)
        return self.script.answers[max(index, 0)]

    async def _chat(self, request: Request) -> Any:
        body = await request.json()
        record = RecordedRequest(body=body, headers=dict(request.headers), received_at=time.time())
        with self._lock:
            self.requests.append(record)
        script = self.script
        with self._lock:
            index = min(len(self.requests) - 1, len(script.statuses) - 1)
        status = script.statuses[index]
        if status != 200:
            message = script.error_message or f"scripted failure {status}"
            if script.error_echo_headers:
                message += f" (request headers: {dict(request.headers)})"
            error = {"message": message, "type": "invalid_request_error"}
            return JSONResponse({"error": error}, status_code=status)
        answer = script.responder(body) if script.responder else self._next_answer()
        delay = script.delay_for(body) if script.delay_for else script.first_token_delay_s
        created = int(time.time())
        if not body.get("stream"):
            await asyncio.sleep(delay)
            return JSONResponse(
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": created,
                    "model": script.model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": answer},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 300, "completion_tokens": 60, "total_tokens": 360},
                }
            )

        async def events():
            try:
                await asyncio.sleep(delay)
                for i, piece in enumerate(split_tokens(answer, script.token_size)):
                    if i:
                        await asyncio.sleep(script.token_delay_s)
                    chunk = {
                        "id": "chatcmpl-test",
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": script.model,
                        "choices": [
                            {"index": 0, "delta": {"content": piece}, "finish_reason": None}
                        ],
                    }
                    if record.first_token_sent_at is None:
                        record.first_token_sent_at = time.time()
                    yield f"data: {json.dumps(chunk)}\n\n"
                final = {
                    "id": "chatcmpl-test",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": script.model,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 300, "completion_tokens": 60, "total_tokens": 360},
                }
                yield f"data: {json.dumps(final)}\n\n"
                yield "data: [DONE]\n\n"
            except asyncio.CancelledError:
                record.disconnected = True
                raise

        return StreamingResponse(events(), media_type="text/event-stream")

    async def _models(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {"object": "list", "data": [{"id": self.script.model, "object": "model"}]}
        )

    async def _health(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def _records(self, request: Request) -> JSONResponse:
        """What was received, for a benchmark that runs this server in another process."""
        with self._lock:
            records = list(self.requests)
        return JSONResponse(
            [
                {
                    "prompt": r.body["messages"][0]["content"][1]["text"][:200],
                    "received_at": r.received_at,
                    "first_token_sent_at": r.first_token_sent_at,
                }
                for r in records
            ]
        )

    def start(self) -> ModelServer:
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models),
                Route("/health", self._health),
                Route("/_records", self._records),
            ]
        )
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test model server did not start within 10 s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    """Serve until killed: `python -m tests.support.model_server PORT FIRST_TOKEN_S TOKEN_S`."""
    import sys

    port, first, per_token = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    server = ModelServer(Script(first_token_delay_s=first, token_delay_s=per_token))
    server.port = port
    server.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
