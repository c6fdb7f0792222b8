"""Backends: one request shape in, streamed text out; one module per provider.

Use `BackendRegistry(settings).get(name).stream(GenerationRequest(...))`.
"""

from medgemma_ui.backends.base import Backend
from medgemma_ui.backends.errors import ERROR_KINDS, BackendError
from medgemma_ui.backends.registry import BackendRegistry
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
    "BackendStatus",
    "Completion",
    "Event",
    "GenerationRequest",
    "StatusUpdate",
    "TextDelta",
    "redact",
]
