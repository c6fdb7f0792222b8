"""One clinician's rating of one analysis result, validated on construction."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from medgemma_ui.redaction import redact

OVERALL_RATINGS = ("agree", "partly_agree", "disagree")
# Per finding, as IHE AI Results records a clinician's review: accept, reject, or modify (the
# corrected text is in `finding_corrections`). Records from earlier versions used the last three.
FINDING_RATINGS = ("accept", "reject", "modify", "correct", "incorrect", "unsure")
MAX_ADDED_FINDINGS = 50
# Agreement score used by stats(): agree counts fully, partly agree half.
AGREEMENT_SCORE = {"agree": 1.0, "partly_agree": 0.5, "disagree": 0.0}

# Free text a person types; token-shaped substrings are redacted here (see redaction.py).
FREE_TEXT_FIELDS = (
    "session_label",
    "reviewer",
    "missed_findings",
    "corrected_impression",
    "comment",
)
MAX_TEXT_CHARS = 20_000

_HEX64 = re.compile(r"[0-9a-f]{64}")
_ID = re.compile(r"[0-9a-f]{32}")


def utc_now() -> str:
    """Current UTC time, ISO-8601 with microseconds (sortable as text)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_id() -> str:
    return uuid.uuid4().hex


def _check_choice(name: str, value: Any, choices: tuple[str, ...], alternative: str = "") -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}{alternative}, got {value!r}.")


def _check_str_list(name: str, value: Any, note: str = "") -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{name} must be a list of strings{note}.")


def _check_str(name: str, value: object, *, limit: int = MAX_TEXT_CHARS) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}.")
    if len(value) > limit:
        raise ValueError(f"{name} is {len(value)} characters long; the limit is {limit}.")


def _check_timestamp(name: str, value: str) -> None:
    _check_str(name, value, limit=64)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} must be an ISO-8601 timestamp, got {value!r}.") from None
    if parsed.utcoffset() != UTC.utcoffset(None):
        raise ValueError(f"{name} must be in UTC (+00:00), got {value!r}.")


def _check_json(name: str, value: object) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be JSON-serialisable: {exc}") from None


@dataclass(kw_only=True)
class FeedbackRecord:
    """An analysis result plus the clinician's ratings of it.

    The image is identified only by `image_sha256` (hex SHA-256 of the prepared JPEG); file names
    and DICOM tags have no field here on purpose. `image_jpeg` is kept only when the store was
    opened with `keep_images=True`.
    """

    id: str = ""
    created_at: str = ""
    updated_at: str = ""
    session_label: str = ""
    reviewer: str = ""
    image_sha256: str
    template_id: str
    template_version: str = ""
    backend: str
    model: str = ""
    generation: dict[str, Any] = field(default_factory=dict)
    raw_answers: list[str] = field(default_factory=list)
    parsed: dict[str, Any] | None = None
    valid: bool = False
    parse_errors: list[str] = field(default_factory=list)
    overall_rating: str | None = None
    finding_ratings: dict[str, str] = field(default_factory=dict)
    missed_findings: str = ""
    corrected_impression: str = ""
    comment: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Exactly what produced the answer (analysis.Provenance.to_json()); {} in older records.
    provenance: dict[str, Any] = field(default_factory=dict)
    finding_corrections: dict[str, str] = field(default_factory=dict)
    added_findings: list[str] = field(default_factory=list)
    image_jpeg: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.id:
            self.id = new_id()
        if not isinstance(self.id, str) or not _ID.fullmatch(self.id):
            raise ValueError(f"id must be 32 lowercase hex characters (uuid4), got {self.id!r}.")
        now = utc_now()
        self.created_at = self.created_at or now
        self.updated_at = self.updated_at or self.created_at
        _check_timestamp("created_at", self.created_at)
        _check_timestamp("updated_at", self.updated_at)

        if not isinstance(self.image_sha256, str) or not _HEX64.fullmatch(self.image_sha256):
            raise ValueError(
                "image_sha256 must be the 64-character lowercase hex SHA-256 of the prepared JPEG "
                f"(never a file name), got {self.image_sha256!r}."
            )
        if self.image_jpeg is not None:
            if not isinstance(self.image_jpeg, bytes):
                raise ValueError("image_jpeg must be bytes or None.")
            if hashlib.sha256(self.image_jpeg).hexdigest() != self.image_sha256:
                raise ValueError("image_jpeg does not match image_sha256.")

        for name in ("template_id", "backend", "template_version", "model"):
            _check_str(name, getattr(self, name), limit=200)
        if not self.template_id:
            raise ValueError("template_id must not be empty.")
        if not self.backend:
            raise ValueError("backend must not be empty.")
        for name in FREE_TEXT_FIELDS:
            _check_str(name, getattr(self, name))
            setattr(self, name, redact(getattr(self, name)))

        if not isinstance(self.generation, dict):
            raise ValueError("generation must be a dict (max_tokens, temperature, ...).")
        _check_json("generation", self.generation)
        _check_str_list("raw_answers", self.raw_answers, " (every answer, retries too)")
        if self.parsed is not None and not isinstance(self.parsed, dict):
            raise ValueError(f"parsed must be a dict or None, got {type(self.parsed).__name__}.")
        _check_json("parsed", self.parsed)
        if not isinstance(self.valid, bool):
            raise ValueError(f"valid must be True or False, got {self.valid!r}.")
        _check_str_list("parse_errors", self.parse_errors)

        if self.overall_rating is not None:
            _check_choice("overall_rating", self.overall_rating, OVERALL_RATINGS, " or None")
        if not isinstance(self.finding_ratings, dict):
            raise ValueError("finding_ratings must be a dict of finding path -> rating.")
        for path, rating in self.finding_ratings.items():
            if not isinstance(path, str) or not path:
                raise ValueError(f"finding_ratings keys must be non-empty strings, got {path!r}.")
            _check_choice(f"finding_ratings[{path!r}]", rating, FINDING_RATINGS)
        if not isinstance(self.finding_corrections, dict):
            raise ValueError("finding_corrections must be a dict of finding path -> text.")
        for path, text in self.finding_corrections.items():
            if self.finding_ratings.get(path) != "modify":
                raise ValueError(f"finding_corrections[{path!r}] needs the rating 'modify'.")
            _check_str(f"finding_corrections[{path!r}]", text)
        self.finding_corrections = {p: redact(t) for p, t in self.finding_corrections.items()}
        _check_str_list("added_findings", self.added_findings)
        if len(self.added_findings) > MAX_ADDED_FINDINGS:
            raise ValueError(f"added_findings holds at most {MAX_ADDED_FINDINGS} findings.")
        for text in self.added_findings:
            _check_str("added_findings", text)
        self.added_findings = [redact(t) for t in self.added_findings]
        if not isinstance(self.provenance, dict):
            raise ValueError("provenance must be a dict (what was sent, to which backend).")
        _check_json("provenance", self.provenance)
        if not isinstance(self.timings_ms, dict) or not all(
            isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
            for k, v in self.timings_ms.items()
        ):
            raise ValueError("timings_ms must be a dict of name -> milliseconds (numbers).")
        _check_json("timings_ms", self.timings_ms)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of the declared fields except the image bytes."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data.pop("image_jpeg")
        return json.loads(json.dumps(data))  # deep copy, and proves it is JSON


class FindingPath(NamedTuple):
    """A rateable finding: `path` is the key used in `finding_ratings`, `label` is for display."""

    path: str
    label: str


_LABEL_KEYS = ("finding", "description", "name", "label", "observation", "text", "location")
_MAX_LABEL_VALUE = 80


def _humanize(key: str) -> str:
    words = key.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:]


def _short(value: Any) -> str:
    if isinstance(value, dict):
        for key in _LABEL_KEYS:
            if isinstance(value.get(key), str) and value[key].strip():
                return _short(value[key])
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_LABEL_VALUE else text[: _MAX_LABEL_VALUE - 1] + "…"


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def finding_paths(parsed: dict[str, Any] | None) -> list[FindingPath]:
    """The rateable findings of a parsed result, in document order.

    Scalars give `key` (or `parent.key` when nested in an object), list items give `key[i]`, objects
    inside lists are one finding each (labelled by their `finding`/`description`/... field). Empty
    values are skipped: there is nothing to rate. For
    `{"cardiac_size": "normal", "pulmonary_findings": ["RLL opacity"]}` this gives
    `cardiac_size` ("Cardiac size: normal") and `pulmonary_findings[0]`
    ("Pulmonary findings 1: RLL opacity"). Gradio choices: `[(f.label, f.path) for f in ...]`.
    """
    out: list[FindingPath] = []

    def walk(value: Any, path: str, title: str) -> None:
        if _is_empty(value):
            return
        if isinstance(value, dict):
            for key, sub in value.items():
                sub_path = f"{path}.{key}" if path else str(key)
                sub_title = f"{title} › {_humanize(str(key))}" if title else _humanize(str(key))
                walk(sub, sub_path, sub_title)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if not _is_empty(item):
                    out.append(FindingPath(f"{path}[{i}]", f"{title} {i + 1}: {_short(item)}"))
        else:
            out.append(FindingPath(path, f"{title}: {_short(value)}"))

    if parsed:
        walk(parsed, "", "")
    return out
