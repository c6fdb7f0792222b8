"""Hugging Face Inference Endpoint running TGI, through `huggingface_hub.AsyncInferenceClient`.

Checked against huggingface_hub 2.4.0 and TGI `router/src/lib.rs` / `server.rs`:
- `AsyncInferenceClient(base_url=URL)` posts to `URL/v1/chat/completions` (or `URL/chat/completions`
  if URL ends in `/v1`); TGI takes images only on that route.
- TGI grammar: `response_format={"type": "json", "value": schema}` (`GrammarType`, serde tag
  "type", content "value"; `json_object` is an alias). huggingface_hub passes a dict through as-is.
- TGI treats `temperature: 0` as greedy decoding and accepts `stream_options.include_usage`.
- TGI error bodies are `{"error": "...", "error_type": "generation|overloaded|validation|..."}`;
  generation errors answer 424, overloaded 429, validation 422; the same object may arrive as an
  SSE event mid-stream, which huggingface_hub raises as `GenerationError`, `OverloadedError`, ...
- A scaled-to-zero endpoint answers 503 while it wakes ("Service Unavailable",
  "workload is not stopped").
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from medgemma_ui.backends.base import Backend
from medgemma_ui.backends.config import ProviderConfig, env_name, setting
from medgemma_ui.backends.errors import BackendError, cuda_error, http_error, is_cuda_error
from medgemma_ui.backends.http import LazyClient, cut_stream, stream_error
from medgemma_ui.backends.types import (
    AttemptEnd,
    AttemptEvent,
    BackendStatus,
    GenerationRequest,
    TextDelta,
)
from medgemma_ui.redaction import redact

if TYPE_CHECKING:
    import httpx2
    from huggingface_hub import AsyncInferenceClient


class HFEndpointConfig(ProviderConfig):
    url: str = setting(
        "MEDGEMMA_HF_ENDPOINT_URL",
        "the endpoint's URL, with or without /v1",
        required=True,
    )
    token: str = setting("HF_TOKEN", "a token with access to the endpoint", secret=True)


_WAKING_MARKERS = (
    "workload is not stopped",
    "service unavailable",
    "scaled to zero",
    "initializing",
)


def _hub_session() -> httpx2.AsyncClient:
    from huggingface_hub.utils import get_async_session

    return get_async_session()


def endpoint_root(url: str) -> str:
    root = url.strip().rstrip("/")
    for suffix in ("/chat/completions", "/v1"):
        root = root.removesuffix(suffix)
    return root


class HFEndpointBackend(Backend[HFEndpointConfig]):
    name = "hf-endpoint"
    label = "Hugging Face Inference Endpoint"
    order = 10
    supports_structured_output = True

    # Per instance once set; None / "" until first use.
    _model_id: str = ""

    @property
    def model(self) -> str:
        return self._model_id or "MedGemma (TGI endpoint)"

    @cached_property
    def _session(self) -> LazyClient[httpx2.AsyncClient]:
        # huggingface_hub's own async session (its request hooks included), shared by requests.
        return LazyClient(_hub_session)

    def _client(self) -> AsyncInferenceClient:
        import httpx2
        from huggingface_hub import AsyncInferenceClient

        s = self.settings
        client = AsyncInferenceClient(
            base_url=endpoint_root(self.config.url),
            token=self.config.token or None,
            timeout=httpx2.Timeout(  # type: ignore[arg-type]  # httpx2 takes a Timeout too
                connect=s.connect_timeout_s,
                read=s.first_token_timeout_s,
                write=max(s.connect_timeout_s, 30.0),
                pool=s.connect_timeout_s,
            ),
        )
        # In huggingface_hub 2.4.0 every streamed response is entered into the client's exit
        # stack and only closed by `client.close()`. A short-lived client per request therefore
        # closes its stream on completion or cancellation, and presetting the session it would
        # otherwise create (about 30 ms each) keeps connections pooled. Checked by a test.
        client._async_client = self._session.get()
        return client

    async def health(self) -> BackendStatus:
        import httpx

        if not self.configured:
            return self.not_configured_status()
        root = endpoint_root(self.config.url)
        headers = {"Authorization": f"Bearer {self.config.token}"} if self.config.token else {}
        timeout = min(5.0, self.settings.connect_timeout_s + 2.0)
        try:
            async with httpx.AsyncClient(timeout=timeout) as client:
                response = await client.get(f"{root}/info", headers=headers)
        except httpx.HTTPError as error:
            return BackendStatus(
                "unreachable", redact(f"{type(error).__name__}: {error}"), self.model
            )
        if response.status_code == 503:
            return BackendStatus(
                "ready", "asleep (scaled to zero); the first request wakes it", self.model
            )
        if response.status_code in (401, 403):
            return BackendStatus(
                "unreachable",
                f"the endpoint refused {env_name(HFEndpointConfig, 'token')}",
                self.model,
            )
        if response.status_code >= 400:
            return BackendStatus("unreachable", f"HTTP {response.status_code}", self.model)
        with contextlib.suppress(ValueError):
            self._model_id = str(response.json().get("model_id") or "")
        return BackendStatus("ready", "TGI answered /info", self.model)

    def _classify(self, error: Exception) -> BackendError:
        import httpx2
        from huggingface_hub.errors import (
            HfHubHTTPError,
            InferenceTimeoutError,
            OfflineModeIsEnabled,
            OverloadedError,
            TextGenerationError,
            ValidationError,
        )

        secrets = self._secrets
        if isinstance(error, HfHubHTTPError):
            response = error.response
            body = error.server_message or ""
            with contextlib.suppress(httpx2.ResponseNotRead, RuntimeError):
                body = response.text or body
            status = response.status_code
            waking = status == 503 or any(m in body.lower() for m in _WAKING_MARKERS)
            if waking and not is_cuda_error(body):
                return BackendError(
                    "waking",
                    "The Hugging Face endpoint is still waking up; try again in a minute.",
                    detail=f"HTTP {status}: {body[:500]}",
                    retryable=True,
                    status=status,
                    secrets=secrets,
                )
            return http_error(
                status,
                body or str(error),
                label=self.label,
                config_hint=self.settings_hint(),
                headers=response.headers,
                secrets=secrets,
            )
        if isinstance(error, TextGenerationError):
            text = str(error)
            if is_cuda_error(text):
                return cuda_error(self.label, redact(text, secrets))
            if isinstance(error, OverloadedError):
                return BackendError(
                    "rate_limited",
                    f"The {self.label} is overloaded; wait a moment and try again.",
                    detail=text,
                    retryable=True,
                    secrets=secrets,
                )
            if isinstance(error, ValidationError):
                return BackendError(
                    "bad_request",
                    f"The {self.label} rejected the request as invalid; lower max tokens or turn "
                    "off structured output.",
                    detail=text,
                    retryable=False,
                    secrets=secrets,
                )
            return stream_error(text, label=self.label, secrets=secrets)
        if isinstance(error, InferenceTimeoutError | httpx2.TimeoutException):
            if isinstance(error, httpx2.ConnectTimeout) or isinstance(
                error.__cause__, httpx2.ConnectTimeout
            ):
                return self._unreachable(error)
            return BackendError(
                "timeout",
                f"The {self.label} stopped responding; try again or pick another backend.",
                detail=redact(str(error), secrets),
                retryable=False,
            )
        if isinstance(error, OfflineModeIsEnabled):
            return BackendError(
                "network",
                "HF_HUB_OFFLINE is set, which blocks the endpoint; unset it for this app.",
                detail=str(error),
                retryable=False,
            )
        if isinstance(error, httpx2.ConnectError):
            return self._unreachable(error)
        if isinstance(error, httpx2.RemoteProtocolError | httpx2.ReadError):
            return cut_stream(self.label, redact(f"{type(error).__name__}: {error}", secrets))
        if isinstance(error, ValueError):  # json.JSONDecodeError: a non-JSON SSE line
            return BackendError(
                "bad_response",
                f"The {self.label} sent an answer this app cannot read; check the endpoint URL.",
                detail=redact(f"{type(error).__name__}: {error}", secrets),
                retryable=False,
            )
        return BackendError(
            "network",
            f"The network connection to the {self.label} failed; try again.",
            detail=redact(f"{type(error).__name__}: {error}", secrets),
            retryable=False,
        )

    def _unreachable(self, error: Exception) -> BackendError:
        return BackendError(
            "network",
            f"Could not connect to the {self.label}; check {env_name(HFEndpointConfig, 'url')}.",
            detail=redact(f"{type(error).__name__}: {error}", self._secrets),
            retryable=False,
        )

    async def _attempt(
        self, request: GenerationRequest, structured: bool
    ) -> AsyncIterator[AttemptEvent]:
        import httpx2
        from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled, TextGenerationError

        kwargs: dict[str, Any] = {}
        if structured:
            kwargs["response_format"] = {"type": "json", "value": request.json_schema}
        finish_reason: str | None = None
        usage: dict[str, int] | None = None
        model = ""
        async with self._client() as client:
            try:
                chunks = await client.chat_completion(
                    request.messages(),
                    stream=True,
                    max_tokens=request.max_tokens,
                    temperature=request.temperature,
                    stream_options={"include_usage": True},
                    **kwargs,
                )
                async for chunk in chunks:
                    model = chunk.model or model
                    if chunk.usage is not None:
                        usage = {
                            "prompt_tokens": chunk.usage.prompt_tokens,
                            "completion_tokens": chunk.usage.completion_tokens,
                            "total_tokens": chunk.usage.total_tokens,
                        }
                    for choice in chunk.choices or ():
                        if choice.delta is not None and choice.delta.content:
                            yield TextDelta(choice.delta.content)
                        if choice.finish_reason:
                            finish_reason = choice.finish_reason
            except BackendError:
                raise
            except (
                HfHubHTTPError,
                TextGenerationError,
                httpx2.HTTPError,
                OfflineModeIsEnabled,
                ValueError,
            ) as error:
                raise self._classify(error) from None
        if finish_reason is None:
            # huggingface_hub stops quietly when the body ends, with or without [DONE].
            raise cut_stream(self.label, "stream ended without finish_reason")
        if model:
            self._model_id = model
        yield AttemptEnd(finish_reason=finish_reason, usage=usage, model=model)

    async def aclose(self) -> None:
        await self._session.aclose()


BACKEND = HFEndpointBackend
