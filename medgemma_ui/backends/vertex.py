"""Vertex AI endpoint deployed from Model Garden (vLLM container), through `httpx.AsyncClient`.

Sources for the request and answer shapes:
- Google-Health/medgemma `notebooks/quick_start_with_model_garden.ipynb`: the OpenAI-compatible
  route, `base = https://{DEDICATED_ENDPOINT_DNS}/v1beta1/{endpoint resource name}` for dedicated
  endpoints (the Model Garden default) or `https://{REGION}-aiplatform.googleapis.com/v1beta1/...`
  for shared ones, with `api_key=creds.token` from `google.auth.default()` (so a Bearer token),
  and `chat.completions.create(model="", messages=..., max_tokens=..., temperature=0)`.
- Model Garden vLLM `:predict` with `{"instances": [{"@requestFormat": "chatCompletions",
  "messages": [...], "max_tokens": N, "temperature": T}]}` (medgemma_ui DESIGN.md, and widely
  used public clients found with the code search); its answers come in the shapes `_predictions`
  accepts, listed in DESIGN.md.
- Google API errors are `{"error": {"code": 503, "message": ..., "status": "UNAVAILABLE"}}`;
  transient ones are 503/429 or mention SERVICE_UNAVAILABLE / RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from medgemma_ui.backends.base import Backend
from medgemma_ui.backends.errors import BackendError, http_error
from medgemma_ui.backends.google_auth import TokenSource
from medgemma_ui.backends.http import (
    bad_response,
    chat_payload,
    http_timeout,
    json_schema_response_format,
    parse_chat_completion,
    stream_chat,
    transport_error,
)
from medgemma_ui.backends.types import (
    AttemptEnd,
    BackendState,
    BackendStatus,
    GenerationRequest,
    StatusUpdate,
    TextDelta,
)
from medgemma_ui.settings import BackendSettings

_RESOURCE = re.compile(r"projects/[^/]+/locations/([^/]+)/endpoints/[^/:?#]+")
_DEDICATED_SUFFIX = ".prediction.vertexai.goog"
_CONFIG_HINT = "GOOGLE_APPLICATION_CREDENTIALS and MEDGEMMA_VERTEX_ENDPOINT"


@dataclass(frozen=True)
class VertexTarget:
    url: str
    route: Literal["openai", "predict"]
    resource: str


def _origin(host: str) -> str:
    host = host.strip().rstrip("/")
    return host if host.startswith(("http://", "https://")) else f"https://{host}"


def vertex_target(endpoint: str, dedicated_dns: str = "") -> VertexTarget:
    """Where to send requests, from `MEDGEMMA_VERTEX_ENDPOINT` (+ `MEDGEMMA_VERTEX_DEDICATED_DNS`).

    A full URL ending in `/chat/completions` or `:predict` is used as given. Otherwise the
    streaming OpenAI route is used when a dedicated DNS name is known, and `:predict` on the shared
    regional domain when it is not.
    """
    match = _RESOURCE.search(endpoint)
    if match is None:
        raise BackendError(
            "not_configured",
            "MEDGEMMA_VERTEX_ENDPOINT must be an endpoint URL or "
            "projects/PROJECT/locations/REGION/endpoints/ID.",
            detail=f"unparsable endpoint {endpoint!r}",
            retryable=False,
        )
    resource, region = match.group(0), match.group(1)
    dedicated = _origin(dedicated_dns) if dedicated_dns else ""
    host = f"https://{region}-aiplatform.googleapis.com"
    if endpoint.startswith(("http://", "https://")):
        parts = urlsplit(endpoint)
        path = parts.path.rstrip("/")
        if path.endswith("/chat/completions"):
            return VertexTarget(endpoint, "openai", resource)
        if path.endswith(":predict"):
            return VertexTarget(endpoint, "predict", resource)
        host = f"{parts.scheme}://{parts.netloc}"
        if not dedicated and parts.hostname and parts.hostname.endswith(_DEDICATED_SUFFIX):
            dedicated = host
    if dedicated:
        return VertexTarget(f"{dedicated}/v1beta1/{resource}/chat/completions", "openai", resource)
    return VertexTarget(f"{host}/v1/{resource}:predict", "predict", resource)


def _predictions(body: Any) -> tuple[str, AttemptEnd]:
    """Text and finish info from any `:predict` answer shape seen from Model Garden vLLM."""
    predictions = body.get("predictions") if isinstance(body, dict) else None
    if predictions is None:
        raise ValueError("no predictions")
    item = predictions[0] if isinstance(predictions, list) and predictions else predictions
    if isinstance(item, str):  # the non-chat "prompt" format
        return item, AttemptEnd(finish_reason=None)
    if isinstance(item, list):  # shared endpoints: a list of choices inside the list
        if not item:
            raise ValueError("empty choice list")
        return parse_chat_completion({"choices": item}, label="Vertex AI endpoint")
    return parse_chat_completion(item, label="Vertex AI endpoint")


class VertexBackend(Backend):
    name = "vertex"
    label = "Vertex AI endpoint"
    how_to_configure = (
        "set MEDGEMMA_VERTEX_ENDPOINT (projects/P/locations/R/endpoints/E or a URL), "
        "MEDGEMMA_VERTEX_DEDICATED_DNS for streaming, and GOOGLE_APPLICATION_CREDENTIALS."
    )
    supports_structured_output = True

    def __init__(self, settings: BackendSettings, **kwargs: float) -> None:
        super().__init__(settings, **kwargs)
        self._client: httpx.AsyncClient | None = None
        self._tokens: TokenSource | None = None

    @property
    def configured(self) -> bool:
        return bool(self.settings.vertex_endpoint)

    @property
    def model(self) -> str:
        match = _RESOURCE.search(self.settings.vertex_endpoint)
        endpoint_id = match.group(0).rsplit("/", 1)[-1] if match else "?"
        return f"MedGemma on Vertex AI (endpoint {endpoint_id})"

    @property
    def target(self) -> VertexTarget:
        return vertex_target(self.settings.vertex_endpoint, self.settings.vertex_dedicated_dns)

    @property
    def tokens(self) -> TokenSource:
        if self._tokens is None:
            self._tokens = TokenSource(
                self.settings.google_credentials,
                credentials_json=self.settings.google_credentials_json,
                timeout_s=self.settings.connect_timeout_s + 5,
            )
        return self._tokens

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=http_timeout(self.settings))
        return self._client

    async def health(self) -> BackendStatus:
        if not self.configured:
            return BackendStatus("not configured", self.how_to_configure, self.model)
        try:
            target = self.target
            await self.tokens.token()
        except BackendError as error:
            state: BackendState = (
                "not configured" if error.kind == "not_configured" else "unreachable"
            )
            return BackendStatus(state, error.user_message, self.model)
        route = "streaming chat route" if target.route == "openai" else ":predict route"
        return BackendStatus("ready", f"Google credentials OK; {route}", self.model)

    async def _attempt(
        self, request: GenerationRequest, structured: bool
    ) -> AsyncIterator[TextDelta | StatusUpdate | AttemptEnd]:
        target = self.target
        token = await self.tokens.token()
        headers = {"Authorization": f"Bearer {token}"}
        secrets = (token,)
        try:
            if target.route == "openai":
                payload = chat_payload(request, model="", structured=structured)
                async for event in stream_chat(
                    self._http(),
                    target.url,
                    payload,
                    headers=headers,
                    label=self.label,
                    config_hint=_CONFIG_HINT,
                    secrets=secrets,
                ):
                    yield event
            else:
                async for event in self._predict(target.url, request, structured, headers, secrets):
                    yield event
        except BackendError as error:
            if error.kind == "auth":
                self.tokens.invalidate()
            raise

    async def _predict(
        self,
        url: str,
        request: GenerationRequest,
        structured: bool,
        headers: dict[str, str],
        secrets: tuple[str, ...],
    ) -> AsyncIterator[TextDelta | AttemptEnd]:
        instance: dict[str, Any] = {
            "@requestFormat": "chatCompletions",
            "messages": request.messages(),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if structured:
            instance["response_format"] = json_schema_response_format(request)
        try:
            async with self._http().stream(
                "POST", url, json={"instances": [instance]}, headers=headers
            ) as response:
                body = (await response.aread()).decode("utf-8", "replace")
                status = response.status_code
                response_headers = response.headers
        except httpx.HTTPError as error:
            raise transport_error(error, label=self.label, url=url) from None
        if status >= 400:
            raise http_error(
                status,
                body,
                label=self.label,
                config_hint=_CONFIG_HINT,
                headers=response_headers,
                secrets=secrets,
            )
        try:
            text, finish = _predictions(json.loads(body))
        except (ValueError, TypeError, KeyError, IndexError) as error:
            if "SERVICE_UNAVAILABLE" in body or "RESOURCE_EXHAUSTED" in body:
                raise http_error(
                    503, body, label=self.label, config_hint=_CONFIG_HINT, secrets=secrets
                ) from None
            raise bad_response(self.label, f"{error}: {body[:500]}", secrets) from None
        yield TextDelta(text)
        yield finish

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
        if self._tokens is not None:
            tokens, self._tokens = self._tokens, None
            tokens.close()
