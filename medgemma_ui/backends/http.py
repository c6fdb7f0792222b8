"""HTTP helpers every provider may use; no provider owns this module.

- Clients: `http_timeout` / `new_client` from the shared `BackendSettings` timeouts;
  `LazyClient`, a backend's pool made on first use and closed by its `aclose`.
- OpenAI chat completions (the OpenAI-compatible provider, Vertex's streaming route, Vertex's
  `:predict` answers): `chat_payload`, `parse_sse`, `parse_chat_completion`, `stream_chat`.
- Errors as one clear sentence: `transport_error` (no HTTP answer), `stream_error` (an error
  reported inside a stream), `bad_response`, `cut_stream`; HTTP status answers are classified by
  `errors.http_error`.

httpx is imported on first use, so importing a provider module (which the registry does to read
its declaration) stays cheap.

Stream format: `data: {chat.completion.chunk}` lines, `choices[0].delta.content`, an optional
last chunk with `usage` (asked for with `stream_options.include_usage`), then `data: [DONE]`. vLLM
reports an error inside a stream as `data: {"error": {...}}` (older: `{"object": "error", ...}`);
TGI as `data: {"error": "...", "error_type": "..."}`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from medgemma_ui.backends.errors import BackendError, cuda_error, http_error, is_cuda_error
from medgemma_ui.backends.types import AttemptEnd, GenerationRequest, TextDelta

if TYPE_CHECKING:
    import httpx

    from medgemma_ui.backends.settings import BackendSettings

MAX_ERROR_BODY = 64 * 1024


def http_timeout(settings: BackendSettings) -> httpx.Timeout:
    """Connect, read, write and pool timeouts; read is the longest silence between two chunks."""
    import httpx

    return httpx.Timeout(
        connect=settings.connect_timeout_s,
        read=settings.first_token_timeout_s,
        write=max(settings.connect_timeout_s, 30.0),
        pool=settings.connect_timeout_s,
    )


def new_client(settings: BackendSettings) -> httpx.AsyncClient:
    """A pooled async client with the shared timeouts (one per backend, closed by `aclose`)."""
    import httpx

    return httpx.AsyncClient(timeout=http_timeout(settings))


class _Closable(Protocol):
    async def aclose(self) -> None: ...


ClientT = TypeVar("ClientT", bound=_Closable)


class LazyClient(Generic[ClientT]):
    """A backend's one connection pool: made by `make` on the first `get()`, shared by its
    requests, closed by `aclose()` (and made again if the backend is used afterwards)."""

    def __init__(self, make: Callable[[], ClientT]) -> None:
        self._make = make
        self._client: ClientT | None = None

    def get(self) -> ClientT:
        if self._client is None:
            self._client = self._make()
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def json_schema_response_format(request: GenerationRequest) -> dict[str, Any]:
    """OpenAI / vLLM structured outputs (`response_format.type == "json_schema"`)."""
    return {
        "type": "json_schema",
        "json_schema": {"name": request.schema_name, "schema": request.json_schema, "strict": True},
    }


def chat_payload(
    request: GenerationRequest,
    *,
    model: str | None,
    structured: bool,
    stream: bool = True,
) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if model is not None:
        payload["model"] = model
    payload["messages"] = request.messages()
    payload["max_tokens"] = request.max_tokens
    payload["temperature"] = request.temperature
    payload["stream"] = stream
    if stream:
        payload["stream_options"] = {"include_usage": True}
    if structured:
        payload["response_format"] = json_schema_response_format(request)
    return payload


def _usage(obj: Any) -> dict[str, int] | None:
    if not isinstance(obj, dict):
        return None
    usage = {k: v for k, v in obj.items() if isinstance(v, int) and not isinstance(v, bool)}
    return usage or None


def _error_text(obj: dict[str, Any]) -> str | None:
    if obj.get("object") == "error":
        return str(obj.get("message", obj))
    error = obj.get("error")
    if error is None:
        return None
    if isinstance(error, dict):
        return str(error.get("message", error))
    return str(error)


def stream_error(text: str, *, label: str, secrets: Iterable[str]) -> BackendError:
    if is_cuda_error(text):
        return cuda_error(label, text)
    return BackendError(
        "server",
        f"The {label} reported an error while generating; try again or pick another backend.",
        detail=f"in-stream error: {text}",
        retryable=False,
        secrets=secrets,
    )


def bad_response(label: str, detail: str, secrets: Iterable[str] = ()) -> BackendError:
    return BackendError(
        "bad_response",
        f"The {label} sent an answer this app cannot read; check that the address points to "
        "an OpenAI-compatible chat server.",
        detail=detail,
        retryable=False,
        secrets=secrets,
    )


def cut_stream(label: str, detail: str) -> BackendError:
    return BackendError(
        "network",
        f"The connection to the {label} was cut before the answer finished; try again.",
        detail=detail,
        retryable=False,
    )


async def parse_sse(
    lines: AsyncIterator[str], *, label: str, secrets: Iterable[str] = ()
) -> AsyncIterator[TextDelta | AttemptEnd]:
    """Turn SSE lines of a chat-completions stream into text deltas and one `AttemptEnd`."""
    finish_reason: str | None = None
    usage: dict[str, int] | None = None
    model = ""
    done = False
    async for raw in lines:
        line = raw.strip()
        if not line.startswith("data:"):
            continue  # blank separators, comments (": ping"), event: lines
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            break
        try:
            obj = json.loads(data)
        except json.JSONDecodeError:
            raise bad_response(label, f"non-JSON SSE data: {data[:500]}", secrets) from None
        if not isinstance(obj, dict):
            raise bad_response(label, f"SSE data is not an object: {data[:500]}", secrets)
        error = _error_text(obj)
        if error is not None:
            raise stream_error(error, label=label, secrets=secrets)
        model = obj.get("model") or model
        usage = _usage(obj.get("usage")) or usage
        for choice in obj.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content") if isinstance(delta, dict) else None
            if content:
                yield TextDelta(content)
            if choice.get("finish_reason"):
                finish_reason = choice["finish_reason"]
    if not done and finish_reason is None:
        raise cut_stream(label, "stream ended without [DONE] or finish_reason")
    yield AttemptEnd(finish_reason=finish_reason, usage=usage, model=model)


def parse_chat_completion(
    obj: Any, *, label: str, secrets: Iterable[str] = ()
) -> tuple[str, AttemptEnd]:
    """A non-streamed `chat.completion` object (or one choice of it) -> text and finish info."""
    if isinstance(obj, dict) and (error := _error_text(obj)) is not None:
        raise stream_error(error, label=label, secrets=secrets)
    choices = obj.get("choices") if isinstance(obj, dict) else None
    choice = choices[0] if isinstance(choices, list) and choices else obj
    if not isinstance(choice, dict):
        raise bad_response(label, f"no choices in answer: {str(obj)[:500]}", secrets)
    message = choice.get("message")
    text = message.get("content") if isinstance(message, dict) else choice.get("text")
    if not isinstance(text, str):
        raise bad_response(label, f"no message content in answer: {str(obj)[:500]}", secrets)
    model = obj.get("model", "") if isinstance(obj, dict) else ""
    usage = _usage(obj.get("usage")) if isinstance(obj, dict) else None
    end = AttemptEnd(finish_reason=choice.get("finish_reason"), usage=usage, model=model or "")
    return text, end


async def read_error_body(response: httpx.Response) -> str:
    body = b""
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= MAX_ERROR_BODY:
            break
    return body[:MAX_ERROR_BODY].decode("utf-8", "replace")


def transport_error(error: httpx.HTTPError, *, label: str, url: str) -> BackendError:
    """httpx exceptions (no HTTP answer, or a broken one) -> BackendError."""
    import httpx

    detail = f"{type(error).__name__}: {error} ({url})"
    if isinstance(error, httpx.ConnectTimeout | httpx.ConnectError):
        return BackendError(
            "network",
            f"Could not connect to the {label}; check the address and that the server is running.",
            detail=detail,
            retryable=False,
        )
    if isinstance(error, httpx.TimeoutException):
        return BackendError(
            "timeout",
            f"The {label} stopped responding; try again or pick another backend.",
            detail=detail,
            retryable=False,
        )
    if isinstance(error, httpx.RemoteProtocolError | httpx.ReadError):
        return cut_stream(label, detail)
    return BackendError(
        "network",
        f"The network connection to the {label} failed; try again.",
        detail=detail,
        retryable=False,
    )


async def stream_chat(
    client: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    *,
    headers: dict[str, str],
    label: str,
    config_hint: str,
    secrets: Iterable[str] = (),
) -> AsyncIterator[TextDelta | AttemptEnd]:
    """POST a streamed chat completion and yield its events; the response closes on exit."""
    import httpx

    secrets = tuple(secrets)
    try:
        async with client.stream("POST", url, json=payload, headers=headers) as response:
            if response.status_code >= 400:
                body = await read_error_body(response)
                raise http_error(
                    response.status_code,
                    body,
                    label=label,
                    config_hint=config_hint,
                    headers=response.headers,
                    secrets=secrets,
                )
            content_type = response.headers.get("content-type", "")
            if "text/event-stream" in content_type:
                async for event in parse_sse(response.aiter_lines(), label=label, secrets=secrets):
                    yield event
                return
            # A server that ignores "stream": true answers with one JSON object.
            body = await read_error_body(response)
            try:
                obj = json.loads(body)
            except json.JSONDecodeError:
                raise bad_response(
                    label, f"HTTP {response.status_code} {content_type}: {body[:500]}", secrets
                ) from None
            text, finish = parse_chat_completion(obj, label=label, secrets=secrets)
            yield TextDelta(text)
            yield finish
    except httpx.HTTPError as error:
        raise transport_error(error, label=label, url=url) from None
