"""The one request shape every backend takes, and the events every backend streams back."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Literal

MAX_TOKENS_CAP = 1024


@dataclass(frozen=True)
class GenerationRequest:
    """One image (already prepared JPEG bytes) and one prompt; Gemma 3 has no system role."""

    image_jpeg: bytes = field(repr=False)
    prompt: str
    max_tokens: int = 512
    temperature: float = 0.0
    json_schema: dict[str, Any] | None = field(default=None, repr=False)
    schema_name: str = "findings"

    def __post_init__(self) -> None:
        if not isinstance(self.image_jpeg, bytes | bytearray) or not self.image_jpeg:
            raise ValueError("image_jpeg must be non-empty JPEG bytes")
        if self.image_jpeg[:3] != b"\xff\xd8\xff":
            raise ValueError("image_jpeg must be JPEG data (it does not start with FF D8 FF)")
        if not self.prompt.strip():
            raise ValueError("prompt must not be empty")
        if isinstance(self.max_tokens, bool) or not 1 <= self.max_tokens <= MAX_TOKENS_CAP:
            raise ValueError(f"max_tokens must be between 1 and {MAX_TOKENS_CAP}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError("temperature must be between 0 and 2")

    @property
    def data_uri(self) -> str:
        return "data:image/jpeg;base64," + base64.b64encode(self.image_jpeg).decode("ascii")

    def messages(self) -> list[dict[str, Any]]:
        """Exactly one user message: the image part first, then the text."""
        return [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": self.data_uri}},
                    {"type": "text", "text": self.prompt},
                ],
            }
        ]


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class StatusUpdate:
    """Progress the user should see while no text arrives (waking endpoint, rate limit, loading)."""

    message: str
    kind: str = "info"


@dataclass(frozen=True)
class Completion:
    """The last event of every successful stream."""

    text: str
    finish_reason: str | None
    usage: dict[str, int] | None
    model: str
    timings_ms: dict[str, float]
    structured_output: bool


Event = TextDelta | StatusUpdate | Completion


@dataclass(frozen=True)
class AttemptEnd:
    """The last event of one provider attempt: what it knows at its end besides the text.

    A provider's `Backend._attempt` yields `TextDelta`s (and `StatusUpdate`s), then one
    `AttemptEnd`; `Backend.stream` turns the text and this into the one `Completion` callers see.
    Callers of `stream` never receive it. Empty fields mean "not reported by the server"; an
    empty `model` is replaced by the backend's configured model name.
    """

    finish_reason: str | None = None
    usage: dict[str, int] | None = None
    model: str = ""


BackendState = Literal["ready", "not configured", "unreachable"]


@dataclass(frozen=True)
class BackendStatus:
    state: BackendState
    detail: str
    model: str
