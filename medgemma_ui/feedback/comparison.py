"""Blinded side-by-side comparisons: the arms, the sessions set up in advance, and the votes.

An **arm** is what produced one of the two answers: a backend, a template and optionally a prompt
(two backends, two templates or prompts, or two models served by two backends). A **comparison
session** names two arms and the prepared images to run them on (kept in the store, identified by
their SHA-256; never a file name or tag). A **vote** says which arm's answer was better (`a`,
`b`, `both_good`, `both_bad`, always in the session's arm terms whatever side each was shown
on), which arm was shown on the left, and keeps both arms' provenance and answers.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

from medgemma_ui.feedback.record import (
    MAX_TEXT_CHARS,
    _check_json,
    _check_timestamp,
    new_id,
    utc_now,
)
from medgemma_ui.redaction import redact

VOTES = ("a", "b", "both_good", "both_bad")
SIDES = ("a", "b")
_ID = re.compile(r"[0-9a-f]{32}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_ARM_KEYS = ("label", "backend", "template", "prompt")


@dataclass(frozen=True)
class Arm:
    """One side of a comparison. `template` may be `auto` (suggested from each image); `prompt`
    None means the template's own."""

    label: str
    backend: str
    template: str = "auto"
    prompt: str | None = None

    def __post_init__(self) -> None:
        for name in ("label", "backend", "template"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip() or len(value) > 200:
                raise ValueError(f"An arm's {name} must be a short non-empty text.")
        if self.prompt is not None and (
            not isinstance(self.prompt, str) or len(self.prompt) > MAX_TEXT_CHARS
        ):
            raise ValueError("An arm's prompt must be a text (or left out).")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Arm:
        unknown = set(data) - set(_ARM_KEYS)
        if unknown:
            raise ValueError(f"An arm has no field {', '.join(sorted(unknown))}.")
        return cls(**data)

    @classmethod
    def parse(cls, spec: str) -> Arm:
        """`label=Vertex 27B,backend=vertex,template=cxr` (the CLI's --arm)."""
        values: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, sep, value = part.partition("=")
            if not sep or key.strip() not in _ARM_KEYS:
                raise ValueError(
                    f"--arm takes key=value pairs separated by commas ({', '.join(_ARM_KEYS)}); "
                    f"got {part!r}."
                )
            values[key.strip()] = value.strip()
        values.setdefault(
            "label", f"{values.get('backend', '?')} · {values.get('template', 'auto')}"
        )
        return cls.from_json(values)


@dataclass(frozen=True)
class ComparisonSession:
    id: str
    label: str
    arms: tuple[Arm, Arm]
    created_at: str
    items: int = 0


@dataclass(frozen=True)
class ComparisonItem:
    comparison_id: str
    position: int
    image_sha256: str
    jpeg: bytes = field(repr=False)
    info: dict[str, Any] = field(default_factory=dict)


VOTE_JSON = {
    "arm_a_json": "arm_a",
    "arm_b_json": "arm_b",
    "provenance_a_json": "provenance_a",
    "provenance_b_json": "provenance_b",
    "answer_a_json": "answer_a",
    "answer_b_json": "answer_b",
}
VOTE_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "comparison_id",
    "item_position",
    "session_label",
    "reviewer",
    "image_sha256",
    "arm_a_json",
    "arm_b_json",
    "left_arm",
    "vote",
    "provenance_a_json",
    "provenance_b_json",
    "answer_a_json",
    "answer_b_json",
    "comment",
)


@dataclass(kw_only=True)
class ComparisonVote:
    """A clinician's vote on two blinded answers to one image, with what produced each."""

    id: str = ""
    created_at: str = ""
    updated_at: str = ""
    comparison_id: str = ""  # the comparison session; "" for one set up on the spot
    item_position: int | None = None
    session_label: str = ""
    reviewer: str = ""
    image_sha256: str
    arm_a: dict[str, Any]
    arm_b: dict[str, Any]
    left_arm: str  # which arm was shown on the left: "a" or "b"
    vote: str
    provenance_a: dict[str, Any] = field(default_factory=dict)
    provenance_b: dict[str, Any] = field(default_factory=dict)
    # {"raw_answers", "parsed", "valid", "parse_errors", "timings_ms"} of each arm's result
    answer_a: dict[str, Any] = field(default_factory=dict)
    answer_b: dict[str, Any] = field(default_factory=dict)
    comment: str = ""

    def __post_init__(self) -> None:
        self.id = self.id or new_id()
        if not isinstance(self.id, str) or not _ID.fullmatch(self.id):
            raise ValueError("id must be 32 lowercase hex characters.")
        self.created_at = self.created_at or utc_now()
        self.updated_at = self.updated_at or self.created_at
        _check_timestamp("created_at", self.created_at)
        _check_timestamp("updated_at", self.updated_at)
        if not isinstance(self.image_sha256, str) or not _HEX64.fullmatch(self.image_sha256):
            raise ValueError("image_sha256 must be the hex SHA-256 of the prepared JPEG.")
        for name in ("arm_a", "arm_b"):
            Arm.from_json(getattr(self, name))  # validates
        if self.left_arm not in SIDES:
            raise ValueError("left_arm must be 'a' or 'b'.")
        if self.vote not in VOTES:
            raise ValueError(f"vote must be one of {', '.join(VOTES)}, got {self.vote!r}.")
        if self.item_position is not None and (
            not isinstance(self.item_position, int) or self.item_position < 0
        ):
            raise ValueError("item_position must be a position in the session (0, 1, ...).")
        for name in ("provenance_a", "provenance_b", "answer_a", "answer_b"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"{name} must be a dict.")
            _check_json(name, getattr(self, name))
        for name in ("comparison_id", "session_label", "reviewer", "comment"):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
                raise ValueError(f"{name} must be a text of at most {MAX_TEXT_CHARS} characters.")
            setattr(self, name, redact(value))

    @property
    def winner_label(self) -> str | None:
        return {"a": self.arm_a["label"], "b": self.arm_b["label"]}.get(self.vote)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def to_row(self, updated_at: str) -> tuple[Any, ...]:
        data = self.to_dict() | {"updated_at": updated_at}
        return tuple(
            json.dumps(data[VOTE_JSON[c]], ensure_ascii=False, allow_nan=False)
            if c in VOTE_JSON
            else data[c]
            for c in VOTE_COLUMNS
        )

    @classmethod
    def from_row(cls, row: tuple[Any, ...] | list[Any]) -> ComparisonVote:
        data = {}
        for column, value in zip(VOTE_COLUMNS, row, strict=True):
            if column in VOTE_JSON:
                data[VOTE_JSON[column]] = json.loads(value)
            else:
                data[column] = value
        return cls(**data)


def answer_summary(
    raw_answers: list[str],
    parsed: dict[str, Any] | None,
    valid: bool,
    parse_errors: list[str],
    timings_ms: dict[str, float],
) -> dict[str, Any]:
    """What a vote keeps of each arm's result (besides its provenance)."""
    return {
        "raw_answers": list(raw_answers),
        "parsed": parsed,
        "valid": bool(valid),
        "parse_errors": list(parse_errors),
        "timings_ms": {k: round(float(v), 1) for k, v in timings_ms.items()},
    }
