"""The one request shape every backend takes, and the events every backend streams back."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Literal

MAX_TOKENS_CAP = 1024


JPEG_MAGIC = b"\xff\xd8\xff"


def jpeg_data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


@dataclass(frozen=True)
class GenerationRequest:
    """One user turn: `content` in order, JPEG bytes for each image and strings for the text.

    One image and its prompt is `(jpeg, prompt)`; several images with text between them, e.g.
    `(instruction, jpeg_1, "SLICE 1", jpeg_2, "SLICE 2", query)`, reach the model in that order.
    There must be at least one JPEG image (already prepared) and at least one text, and no text
    may be blank. Gemma 3 has no system role, so everything is in this one user message.
    """

    content: tuple[bytes | str, ...] = field(repr=False)
    max_tokens: int = 512
    temperature: float = 0.0
    json_schema: dict[str, Any] | None = field(default=None, repr=False)
    schema_name: str = "findings"

    def __post_init__(self) -> None:
        if not isinstance(self.content, tuple):
            raise ValueError("content must be a tuple of JPEG bytes and text, in order")
        for part in self.content:
            if isinstance(part, bytes):
                if part[:3] != JPEG_MAGIC:
                    raise ValueError("every image must be JPEG data (starting FF D8 FF)")
            elif isinstance(part, str):
                if not part.strip():
                    raise ValueError("a text part of the request is blank")
            else:
                raise ValueError(f"content holds JPEG bytes and text, not {type(part).__name__}")
        if not self.images:
            raise ValueError("a request needs at least one JPEG image")
        if not any(isinstance(part, str) for part in self.content):
            raise ValueError("a request needs a prompt (at least one text part)")
        if isinstance(self.max_tokens, bool) or not 1 <= self.max_tokens <= MAX_TOKENS_CAP:
            raise ValueError(f"max_tokens must be between 1 and {MAX_TOKENS_CAP}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError("temperature must be between 0 and 2")

    @property
    def images(self) -> tuple[bytes, ...]:
        """The JPEG images, in order."""
        return tuple(part for part in self.content if isinstance(part, bytes))

    @property
    def prompt(self) -> str:
        """The text parts joined by blank lines (for logs and text-only uses)."""
        return "\n\n".join(part for part in self.content if isinstance(part, str))

    def messages(self) -> list[dict[str, Any]]:
        """Exactly one user message whose items follow `content`: `image_url` data URIs, `text`."""
        items: list[dict[str, Any]] = [
            {"type": "image_url", "image_url": {"url": jpeg_data_uri(part)}}
            if isinstance(part, bytes)
            else {"type": "text", "text": part}
            for part in self.content
        ]
        return [{"role": "user", "content": items}]


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


# What one provider attempt yields (`Backend._attempt`).
AttemptEvent = TextDelta | StatusUpdate | AttemptEnd

BackendState = Literal["ready", "not configured", "unreachable"]


@dataclass(frozen=True)
class BackendStatus:
    state: BackendState
    detail: str
    model: str
