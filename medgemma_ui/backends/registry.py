"""Every backend by name, created lazily, with a cheap cached health check.

The single dispatch point is `registry.get(name).stream(request)`.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from typing import Any

from medgemma_ui.backends.base import Backend
from medgemma_ui.backends.errors import BackendError
from medgemma_ui.backends.types import BackendStatus
from medgemma_ui.redaction import redact
from medgemma_ui.settings import BACKEND_NAMES, BackendSettings

# name -> (module, class); modules are imported only when the backend is first used, so the local
# backend's torch/transformers stay unimported unless it is chosen.
_BACKENDS: dict[str, tuple[str, str]] = {
    "hf-endpoint": ("medgemma_ui.backends.hf_endpoint", "HFEndpointBackend"),
    "vertex": ("medgemma_ui.backends.vertex", "VertexBackend"),
    "openai": ("medgemma_ui.backends.openai_compat", "OpenAICompatBackend"),
    "local": ("medgemma_ui.backends.local_transformers", "LocalTransformersBackend"),
}
assert tuple(_BACKENDS) == BACKEND_NAMES


class BackendRegistry:
    def __init__(
        self,
        settings: BackendSettings,
        *,
        health_timeout_s: float = 5.0,
        backend_options: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.settings = settings
        self.health_timeout_s = health_timeout_s
        self._options = backend_options or {}
        self._backends: dict[str, Backend] = {}
        self._statuses: dict[str, tuple[float, BackendStatus]] = {}
        self._lock = asyncio.Lock()

    def names(self) -> list[str]:
        return list(_BACKENDS)

    def get(self, name: str) -> Backend:
        backend = self._backends.get(name)
        if backend is not None:
            return backend
        if name not in _BACKENDS:
            raise BackendError(
                "not_configured",
                f"There is no backend called {name!r}; choose one of {', '.join(_BACKENDS)}.",
                retryable=False,
            )
        module_name, class_name = _BACKENDS[name]
        cls = getattr(importlib.import_module(module_name), class_name)
        backend = cls(self.settings, **self._options.get(name, {}))
        self._backends[name] = backend
        return backend

    def configured(self, name: str) -> bool:
        """Whether `name` has its settings (no imports, no network)."""
        s = self.settings
        return {
            "hf-endpoint": bool(s.hf_endpoint_url),
            "vertex": bool(s.vertex_endpoint),
            "openai": bool(s.openai_base_url),
            "local": bool(s.local_model),
        }.get(name, False)

    def default_name(self) -> str:
        if self.settings.default_backend in _BACKENDS:
            return self.settings.default_backend
        for name in _BACKENDS:
            if self.configured(name):
                return name
        return "openai"

    async def _check(self, name: str) -> BackendStatus:
        backend = self.get(name)
        if not backend.configured:
            return BackendStatus("not configured", backend.how_to_configure, backend.model)
        try:
            async with asyncio.timeout(self.health_timeout_s):
                return await backend.health()
        except TimeoutError:
            return BackendStatus(
                "unreachable", f"no answer within {self.health_timeout_s:.0f} s", backend.model
            )
        except Exception as error:  # a health check must never break the UI
            return BackendStatus(
                "unreachable", redact(f"{type(error).__name__}: {error}"), backend.model
            )

    async def statuses(self, force: bool = False) -> dict[str, BackendStatus]:
        """State of every backend, checked concurrently and cached for `health_ttl_s`."""
        async with self._lock:
            now = time.monotonic()
            stale = [
                name
                for name in _BACKENDS
                if force
                or name not in self._statuses
                or now - self._statuses[name][0] > self.settings.health_ttl_s
            ]
            results = await asyncio.gather(*(self._check(name) for name in stale))
            done = time.monotonic()
            for name, status in zip(stale, results, strict=True):
                self._statuses[name] = (done, status)
            return {name: self._statuses[name][1] for name in _BACKENDS}

    async def aclose(self) -> None:
        backends, self._backends = list(self._backends.values()), {}
        for backend in backends:
            await backend.aclose()
