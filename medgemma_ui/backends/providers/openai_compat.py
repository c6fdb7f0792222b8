"""Any OpenAI-compatible `/v1/chat/completions` server: vLLM, llama.cpp `llama-server`, Ollama,
LM Studio, `transformers serve`. Streams SSE through `httpx.AsyncClient`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import cached_property
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from medgemma_ui.backends.base import Backend
from medgemma_ui.backends.config import ProviderConfig, setting
from medgemma_ui.backends.http import LazyClient, chat_payload, new_client, stream_chat
from medgemma_ui.backends.types import AttemptEvent, BackendStatus, GenerationRequest
from medgemma_ui.redaction import redact

if TYPE_CHECKING:
    import httpx


class OpenAIConfig(ProviderConfig):
    base_url: str = setting(
        "MEDGEMMA_OPENAI_BASE_URL",
        "the server's address with or without /v1, e.g. http://127.0.0.1:8080/v1",
        required=True,
    )
    api_key: str = setting(
        "MEDGEMMA_OPENAI_API_KEY",
        "only if the server requires one; sent as a Bearer token",
        secret=True,
    )
    model: str = setting(
        "MEDGEMMA_OPENAI_MODEL",
        "the served model name; empty: the first model the server lists",
    )


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


class OpenAICompatBackend(Backend[OpenAIConfig]):
    name = "openai"
    label = "OpenAI-compatible server"
    order = 30
    supports_structured_output = True
    preselected = True  # a local llama.cpp or Ollama is the quickest to set up

    # Per instance once set; None / "" until first use.
    _discovered_model: str = ""

    @property
    def model(self) -> str:
        return self.config.model or self._discovered_model or "(server default)"

    @property
    def root(self) -> str:
        return api_root(self.config.base_url)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        return headers

    @cached_property
    def _pool(self) -> LazyClient[httpx.AsyncClient]:
        return LazyClient(lambda: new_client(self.settings))

    async def _list_models(self, timeout: float) -> list[str]:
        response = await self._pool.get().get(
            f"{self.root}/models", headers=self._headers(), timeout=timeout
        )
        response.raise_for_status()
        data = response.json().get("data") or []
        return [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]

    async def health(self) -> BackendStatus:
        import httpx

        if not self.configured:
            return self.not_configured_status()
        timeout = min(5.0, self.settings.connect_timeout_s + 2.0)
        try:
            models = await self._list_models(timeout)
        except (httpx.HTTPError, ValueError, KeyError, AttributeError) as error:
            # Some servers (e.g. transformers serve without a HF cache) fail /v1/models but
            # answer /health.
            root = self.root.removesuffix("/v1")
            try:
                response = await self._pool.get().get(f"{root}/health", timeout=timeout)
                response.raise_for_status()
            except httpx.HTTPError:
                detail = redact(f"{type(error).__name__}: {error}", self._secrets)
                return BackendStatus("unreachable", detail, self.model)
            return BackendStatus("ready", f"{root}/health answered", self.model)
        if not self.config.model and models:
            self._discovered_model = models[0]
        return BackendStatus("ready", f"{len(models)} model(s) listed", self.model)

    async def _model_for_request(self) -> str | None:
        import httpx

        if self.config.model:
            return self.config.model
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
    ) -> AsyncIterator[AttemptEvent]:
        payload = chat_payload(
            request, model=await self._model_for_request(), structured=structured
        )
        async for event in stream_chat(
            self._pool.get(),
            f"{self.root}/chat/completions",
            payload,
            headers=self._headers(),
            label=self.label,
            config_hint=self.settings_hint(),
            secrets=self._secrets,
        ):
            yield event

    async def aclose(self) -> None:
        await self._pool.aclose()


BACKEND = OpenAICompatBackend
