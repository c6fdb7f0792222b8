"""Deterministic feedback records for tests (also run as a writer process, see writer.py)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from medgemma_ui.feedback import FeedbackRecord

EPOCH = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def det_id(*parts: object) -> str:
    return hashlib.md5("-".join(map(str, parts)).encode()).hexdigest()


def make_record(writer: int = 0, i: int = 0, **changes: object) -> FeedbackRecord:
    """A fully populated record whose every field depends on (writer, i)."""
    jpeg = f"jpeg-{writer}-{i}".encode()
    fields: dict[str, object] = {
        "id": det_id(writer, i),
        "created_at": (EPOCH + timedelta(seconds=writer * 1000 + i)).isoformat(),
        "session_label": f"session {writer % 3}",
        "reviewer": f"Dr Ünal {writer}",
        "image_sha256": hashlib.sha256(jpeg).hexdigest(),
        "template_id": ("cxr", "ct", "derm")[i % 3],
        "template_version": "1",
        "backend": ("openai", "vertex")[writer % 2],
        "model": "google/medgemma-4b-it",
        "generation": {
            "max_tokens": 512,
            "temperature": 0.0,
            "structured_output": True,
            "prompt_edited": bool(i % 2),
        },
        "raw_answers": [f'{{"cardiac_size": "normal {i}"}}', "retry answer\nwith newline"],
        "parsed": {"cardiac_size": f"normal {i}", "pulmonary_findings": ["RLL opacity", "✓"]},
        "valid": i % 4 != 0,
        "parse_errors": [] if i % 4 else ["missing impression"],
        "overall_rating": ("agree", "partly_agree", "disagree", None)[i % 4],
        "finding_ratings": {"cardiac_size": "correct", "pulmonary_findings[0]": "unsure"},
        "missed_findings": f"small effusion {writer}/{i}",
        "corrected_impression": 'No acute findings;\n"quoted", comma',
        "comment": f"writer {writer} rating {i} — ünïcode ✓ 🩻\r\nsecond line",
        "timings_ms": {"prepare": 12.5, "model": 1500.25 + i},
    }
    fields.update(changes)
    return FeedbackRecord(**fields)  # type: ignore[arg-type]


def comparable(record: FeedbackRecord) -> dict[str, object]:
    """Every field except updated_at, which the store sets."""
    data = record.to_dict() | {"image_jpeg": record.image_jpeg}
    data.pop("updated_at")
    return data


def rating(writer: int, i: int, reviewer: str, overall: str | None, **changes: object):
    """A rating by `reviewer` of answer i (same image and answer text for the same i)."""
    base = make_record(0, i)
    return make_record(
        writer,
        i,
        reviewer=reviewer,
        overall_rating=overall,
        image_sha256=base.image_sha256,
        raw_answers=base.raw_answers,
        template_id=changes.pop("template_id", "cxr"),
        backend="openai",
        **changes,
    )
