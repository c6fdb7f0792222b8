"""Any OpenAI-compatible `/v1/chat/completions` server: vLLM, llama.cpp `llama-server`, Ollama,
LM Studio, `transformers serve`. Streams SSE through `httpx.AsyncClient`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import httpx

from medgemma_ui.backends.base import Backend
from medgemma_ui.backends.http import chat_payload, http_timeout, stream_chat
from medgemma_ui.backends.types import (
    AttemptEnd,
    BackendStatus,
    GenerationRequest,
    StatusUpdate,
    TextDelta,
)
from medgemma_ui.redaction import redact
from medgemma_ui.settings import BackendSettings


def api_root(base_url: str) -> str:
    """The `.../v1` root for a base URL given with or without `/v1` (or a full chat URL)."""
    parts = urlsplit(base_url.strip())
    path = parts.path.rstrip("/")
    for suffix in ("/chat/completions", "/completions"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    if not path.endswith("/v1"):
        path += "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


_CONFIG_HINT = "MEDGEMMA_OPENAI_BASE_URL, MEDGEMMA_OPENAI_MODEL and MEDGEMMA_OPENAI_API_KEY"


class OpenAICompatBackend(Backend):
    name = "openai"
    label = "OpenAI-compatible server"
    how_to_configure = (
        "set MEDGEMMA_OPENAI_BASE_URL (e.g. http://127.0.0.1:8080/v1), plus "
        "MEDGEMMA_OPENAI_MODEL and MEDGEMMA_OPENAI_API_KEY if the server needs them."
    )
    supports_structured_output = True

    def __init__(self, settings: BackendSettings, **kwargs: float) -> None:
        super().__init__(settings, **kwargs)
        self._client: httpx.AsyncClient | None = None
        self._discovered_model = ""

    @property
    def configured(self) -> bool:
        return bool(self.settings.openai_base_url)

    @property
    def model(self) -> str:
        return self.settings.openai_model or self._discovered_model or "(server default)"

    @property
    def _secrets(self) -> tuple[str, ...]:
        return (self.settings.openai_api_key,)

    @property
    def root(self) -> str:
        return api_root(self.settings.openai_base_url)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        if self.settings.openai_api_key:
            headers["Authorization"] = f"Bearer {self.settings.openai_api_key}"
        return headers

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=http_timeout(self.settings))
        return self._client

    async def _list_models(self, timeout: float) -> list[str]:
        response = await self._http().get(
            f"{self.root}/models", headers=self._headers(), timeout=timeout
        )
        response.raise_for_status()
        data = response.json().get("data") or []
        return [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]

    async def health(self) -> BackendStatus:
        if not self.configured:
            return BackendStatus("not configured", self.how_to_configure, self.model)
        timeout = min(5.0, self.settings.connect_timeout_s + 2.0)
        try:
            models = await self._list_models(timeout)
        except (httpx.HTTPError, ValueError, KeyError, AttributeError) as error:
            # Some servers (e.g. transformers serve without a HF cache) fail /v1/models but
            # answer /health.
            root = self.root.removesuffix("/v1")
            try:
                response = await self._http().get(f"{root}/health", timeout=timeout)
                response.raise_for_status()
            except httpx.HTTPError:
                detail = redact(f"{type(error).__name__}: {error}", self._secrets)
                return BackendStatus("unreachable", detail, self.model)
            return BackendStatus("ready", f"{root}/health answered", self.model)
        if not self.settings.openai_model and models:
            self._discovered_model = models[0]
        return BackendStatus("ready", f"{len(models)} model(s) listed", self.model)

    async def _model_for_request(self) -> str | None:
        if self.settings.openai_model:
            return self.settings.openai_model
        if not self._discovered_model:
            try:
                models = await self._list_models(min(5.0, self.settings.connect_timeout_s + 2.0))
            except (httpx.HTTPError, ValueError, KeyError, AttributeError):
                models = []
            self._discovered_model = models[0] if models else ""
        # llama.cpp ignores the name; vLLM and Ollama need one, which /v1/models provides.
        return self._discovered_model or None

    async def _attempt(
        self, request: GenerationRequest, structured: bool
    ) -> AsyncIterator[TextDelta | StatusUpdate | AttemptEnd]:
        payload = chat_payload(
            request, model=await self._model_for_request(), structured=structured
        )
        async for event in stream_chat(
            self._http(),
            f"{self.root}/chat/completions",
            payload,
            headers=self._headers(),
            label=self.label,
            config_hint=_CONFIG_HINT,
            secrets=self._secrets,
        ):
            yield event

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
