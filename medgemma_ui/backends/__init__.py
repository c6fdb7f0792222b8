"""Backends: one request shape in, streamed text out; one module per provider.

Use `BackendRegistry(settings).get(name).stream(GenerationRequest(...))`. The providers live in
`medgemma_ui.backends.providers`, one file each, and are discovered: `backend_names()` and
`backend_help()` list them (for the CLI's help), `backend_classes()` gives their declarations.
"""

from medgemma_ui.backends.base import Backend
from medgemma_ui.backends.discovery import backend_classes, backend_help, backend_names
from medgemma_ui.backends.errors import ERROR_KINDS, BackendError
from medgemma_ui.backends.registry import BackendRegistry
from medgemma_ui.backends.settings import BackendSettings
from medgemma_ui.backends.types import (
    MAX_TOKENS_CAP,
    BackendStatus,
    Completion,
    Event,
    GenerationRequest,
    StatusUpdate,
    TextDelta,
)
from medgemma_ui.redaction import redact

__all__ = [
    "ERROR_KINDS",
    "MAX_TOKENS_CAP",
    "Backend",
    "BackendError",
    "BackendRegistry",
    "BackendSettings",
    "BackendStatus",
    "Completion",
    "Event",
    "GenerationRequest",
    "StatusUpdate",
    "TextDelta",
    "backend_classes",
    "backend_help",
    "backend_names",
    "redact",
]
