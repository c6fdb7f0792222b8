"""Vertex AI endpoint deployed from Model Garden (vLLM container), through `httpx.AsyncClient`.

Sources for the request and answer shapes:
- Google-Health/medgemma `notebooks/quick_start_with_model_garden.ipynb`: the OpenAI-compatible
  route, `base = https://{DEDICATED_ENDPOINT_DNS}/v1beta1/{endpoint resource name}` for dedicated
  endpoints (the Model Garden default) or `https://{REGION}-aiplatform.googleapis.com/v1beta1/...`
  for shared ones, with `api_key=creds.token` from `google.auth.default()` (so a Bearer token),
  and `chat.completions.create(model="", messages=..., max_tokens=..., temperature=0)`.
- The REST method `endpoints.predict` (its reference:
  https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.endpoints/predict
  ) with one instance in the chat format of Model Garden's vLLM container:
  `{"instances": [{"@requestFormat": "chatCompletions", "messages": [...], "max_tokens": N,
  "temperature": T}]}`. Google documents that instance format nowhere we could cite; it is what
  public clients of Model Garden vLLM endpoints send. The answer shapes `_predictions` accepts
  are listed in its docstring and each one is exercised by `tests/backends/test_vertex.py`.
- Google API errors are `{"error": {"code": 503, "message": ..., "status": "UNAVAILABLE"}}`;
  transient ones are 503/429 or mention SERVICE_UNAVAILABLE / RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from medgemma_ui.backends.base import Backend
from medgemma_ui.backends.config import ProviderConfig, env_name, setting
from medgemma_ui.backends.errors import BackendError, http_error
from medgemma_ui.backends.http import (
    LazyClient,
    bad_response,
    chat_payload,
    json_schema_response_format,
    new_client,
    parse_chat_completion,
    stream_chat,
    transport_error,
)
from medgemma_ui.backends.types import (
    AttemptEnd,
    AttemptEvent,
    BackendState,
    BackendStatus,
    GenerationRequest,
    TextDelta,
)

if TYPE_CHECKING:
    import httpx

    from medgemma_ui.backends.google_auth import TokenSource


class VertexConfig(ProviderConfig):
    endpoint: str = setting(
        "MEDGEMMA_VERTEX_ENDPOINT",
        "projects/PROJECT/locations/REGION/endpoints/ID, or the endpoint's URL",
        required=True,
    )
    dedicated_dns: str = setting(
        "MEDGEMMA_VERTEX_DEDICATED_DNS",
        "the dedicated endpoint's DNS name; set, answers stream",
    )
    credentials_file: str = setting(
        "GOOGLE_APPLICATION_CREDENTIALS",
        "a service-account key file; empty: application default credentials",
    )
    credentials_json: str = setting(
        "MEDGEMMA_VERTEX_CREDENTIALS_JSON",
        "the key file's JSON content (a Spaces secret); wins over the file",
        secret=True,
    )


_RESOURCE = re.compile(r"projects/[^/]+/locations/([^/]+)/endpoints/[^/:?#]+")
_DEDICATED_SUFFIX = ".prediction.vertexai.goog"


@dataclass(frozen=True)
class VertexTarget:
    url: str
    route: Literal["openai", "predict"]
    resource: str


def _origin(host: str) -> str:
    host = host.strip().rstrip("/")
    return host if host.startswith(("http://", "https://")) else f"https://{host}"


def vertex_target(endpoint: str, dedicated_dns: str = "") -> VertexTarget:
    """Where to send requests, from the `endpoint` (+ `dedicated_dns`) settings.

    A full URL ending in `/chat/completions` or `:predict` is used as given. Otherwise the
    streaming OpenAI route is used when a dedicated DNS name is known, and `:predict` on the shared
    regional domain when it is not.
    """
    match = _RESOURCE.search(endpoint)
    if match is None:
        raise BackendError(
            "not_configured",
            f"{env_name(VertexConfig, 'endpoint')} must be an endpoint URL or "
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
    """Text and finish info from a `:predict` answer of Model Garden vLLM: `predictions` as one
    chat completion, a list holding one, a list holding a list of choices (shared endpoints),
    or a plain string (the non-chat `prompt` format)."""
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


class VertexBackend(Backend[VertexConfig]):
    name = "vertex"
    label = "Vertex AI endpoint"
    order = 20
    supports_structured_output = True

    # Per instance once set; None until first use.
    _tokens: TokenSource | None = None

    @property
    def model(self) -> str:
        match = _RESOURCE.search(self.config.endpoint)
        endpoint_id = match.group(0).rsplit("/", 1)[-1] if match else "?"
        return f"MedGemma on Vertex AI (endpoint {endpoint_id})"

    @property
    def target(self) -> VertexTarget:
        return vertex_target(self.config.endpoint, self.config.dedicated_dns)

    @property
    def tokens(self) -> TokenSource:
        if self._tokens is None:
            from medgemma_ui.backends.google_auth import TokenSource

            self._tokens = TokenSource(
                self.config.credentials_file,
                credentials_json=self.config.credentials_json,
                timeout_s=self.settings.connect_timeout_s + 5,
            )
        return self._tokens

    @cached_property
    def _pool(self) -> LazyClient[httpx.AsyncClient]:
        return LazyClient(lambda: new_client(self.settings))

    async def health(self) -> BackendStatus:
        if not self.configured:
            return self.not_configured_status()
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
    ) -> AsyncIterator[AttemptEvent]:
        target = self.target
        token = await self.tokens.token()
        headers = {"Authorization": f"Bearer {token}"}
        secrets = (token,)
        try:
            if target.route == "openai":
                payload = chat_payload(request, model="", structured=structured)
                async for event in stream_chat(
                    self._pool.get(),
                    target.url,
                    payload,
                    headers=headers,
                    label=self.label,
                    config_hint=self.settings_hint(),
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
        import httpx

        instance: dict[str, Any] = {
            "@requestFormat": "chatCompletions",
            "messages": request.messages(),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if structured:
            instance["response_format"] = json_schema_response_format(request)
        try:
            async with self._pool.get().stream(
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
                config_hint=self.settings_hint(),
                headers=response_headers,
                secrets=secrets,
            )
        try:
            text, finish = _predictions(json.loads(body))
        except (ValueError, TypeError, KeyError, IndexError) as error:
            if "SERVICE_UNAVAILABLE" in body or "RESOURCE_EXHAUSTED" in body:
                raise http_error(
                    503, body, label=self.label, config_hint=self.settings_hint(), secrets=secrets
                ) from None
            raise bad_response(self.label, f"{error}: {body[:500]}", secrets) from None
        yield TextDelta(text)
        yield finish

    async def aclose(self) -> None:
        await self._pool.aclose()
        if self._tokens is not None:
            tokens, self._tokens = self._tokens, None
            tokens.close()


BACKEND = VertexBackend
