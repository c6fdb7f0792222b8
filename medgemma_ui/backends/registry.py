"""Every discovered backend by name, created lazily, with a cheap cached health check.

The single dispatch point is `registry.get(name).stream(request)`. Names, labels, what
"configured" means and the menu order all come from the provider declarations
(`medgemma_ui.backends.discovery`); nothing here names a backend.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from medgemma_ui.backends import discovery
from medgemma_ui.backends.base import Backend
from medgemma_ui.backends.errors import BackendError
from medgemma_ui.backends.settings import BackendSettings
from medgemma_ui.backends.types import BackendStatus
from medgemma_ui.redaction import redact


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
        self._backends: dict[str, Backend[Any]] = {}
        self._statuses: dict[str, tuple[float, BackendStatus]] = {}
        self._lock = asyncio.Lock()

    def names(self) -> list[str]:
        """Every backend's name, in menu order."""
        return list(discovery.backend_names())

    def provider(self, name: str) -> type[Backend[Any]]:
        """The Backend class declared for `name` (nothing is created)."""
        found = discovery.backend_class(name)
        if found is None:
            raise BackendError(
                "not_configured",
                f"There is no backend called {name!r}; choose one of {', '.join(self.names())}.",
                retryable=False,
            )
        return found

    def label(self, name: str) -> str:
        return self.provider(name).label

    def get(self, name: str) -> Backend[Any]:
        backend = self._backends.get(name)
        if backend is None:
            backend = self.provider(name)(self.settings, **self._options.get(name, {}))
            self._backends[name] = backend
        return backend

    def configured(self, name: str) -> bool:
        """Whether `name` has its required settings (no imports, no network)."""
        found = discovery.backend_class(name)
        return found is not None and found.is_configured(self.settings.config(found.config_type))

    def default_name(self) -> str:
        """MEDGEMMA_DEFAULT_BACKEND; else the first configured; else the preselected one."""
        names = self.names()
        if self.settings.default_backend in names:
            return self.settings.default_backend
        for name in names:
            if self.configured(name):
                return name
        return next((p.name for p in discovery.backend_classes() if p.preselected), names[0])

    async def _check(self, name: str) -> BackendStatus:
        backend = self.get(name)
        if not backend.configured:
            return backend.not_configured_status()
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
        names = self.names()
        async with self._lock:
            now = time.monotonic()
            stale = [
                name
                for name in names
                if force
                or name not in self._statuses
                or now - self._statuses[name][0] > self.settings.health_ttl_s
            ]
            results = await asyncio.gather(*(self._check(name) for name in stale))
            done = time.monotonic()
            for name, status in zip(stale, results, strict=True):
                self._statuses[name] = (done, status)
            return {name: self._statuses[name][1] for name in names}

    async def aclose(self) -> None:
        backends, self._backends = list(self._backends.values()), {}
        for backend in backends:
            await backend.aclose()
