from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from medgemma_ui.feedback import FeedbackRecord, finding_paths, redact
from medgemma_ui.redaction import REDACTED
from tests.feedback.factory import make_record

SHA = hashlib.sha256(b"x").hexdigest()


def base(**changes: object) -> FeedbackRecord:
    fields: dict[str, object] = {"image_sha256": SHA, "template_id": "cxr", "backend": "openai"}
    fields.update(changes)
    return FeedbackRecord(**fields)  # type: ignore[arg-type]


def test_defaults_assign_uuid_and_utc_times() -> None:
    a, b = base(), base()
    assert len(a.id) == 32 and a.id != b.id
    assert a.created_at.endswith("+00:00") and a.updated_at == a.created_at
    assert a.overall_rating is None and a.finding_ratings == {} and a.image_jpeg is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"image_sha256": "scan_of_john_smith.dcm"}, "image_sha256 must be the 64-character"),
        ({"image_sha256": SHA.upper()}, "image_sha256 must be the 64-character"),
        ({"overall_rating": "yes"}, "overall_rating must be one of agree, partly_agree"),
        ({"finding_ratings": {"cardiac_size": "right"}}, "finding_ratings['cardiac_size']"),
        ({"finding_ratings": {"": "correct"}}, "keys must be non-empty strings"),
        ({"id": "not-a-uuid"}, "id must be 32 lowercase hex"),
        ({"created_at": "yesterday"}, "created_at must be an ISO-8601"),
        ({"created_at": "2025-01-01T10:00:00+02:00"}, "created_at must be in UTC"),
        ({"template_id": ""}, "template_id must not be empty"),
        ({"backend": 3}, "backend must be a string"),
        ({"raw_answers": "one string"}, "raw_answers must be a list of strings"),
        ({"parsed": ["not", "a", "dict"]}, "parsed must be a dict or None"),
        ({"parsed": {"x": float("nan")}}, "parsed must be JSON-serialisable"),
        ({"valid": 1}, "valid must be True or False"),
        ({"parse_errors": [1]}, "parse_errors must be a list of strings"),
        ({"timings_ms": {"total": "fast"}}, "timings_ms must be a dict"),
        ({"generation": {"f": object()}}, "generation must be JSON-serialisable"),
        ({"comment": "x" * 20_001}, "comment is 20001 characters long"),
        ({"image_jpeg": b"other bytes"}, "image_jpeg does not match image_sha256"),
    ],
)
def test_invalid_values_are_refused_with_a_clear_message(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        base(**changes)


def test_dict_round_trip_and_unknown_fields() -> None:
    record = make_record(3, 7)
    assert FeedbackRecord(**record.to_dict()) == replace(record, image_jpeg=None)
    assert "image_jpeg" not in record.to_dict()
    with pytest.raises(TypeError, match="file_name"):  # a record has no place for a file name
        FeedbackRecord(**record.to_dict(), file_name="john.dcm")


def test_tokens_in_free_text_are_redacted_but_the_rating_is_kept() -> None:
    token = "hf_" + "a1B2" * 9
    record = base(
        comment=f"pasted {token} by mistake",
        reviewer="Bearer abcdefghijklmnopqrstuvwxyz0123",
        overall_rating="agree",
    )
    assert token not in record.comment and REDACTED in record.comment
    assert record.reviewer == f"Bearer {REDACTED}"
    assert record.overall_rating == "agree"
    assert (
        redact(token) != token
        and redact("hf_short and normal words") == "hf_short and normal words"
    )
    assert redact(f"Authorization: Bearer {token}") == f"Authorization: Bearer {REDACTED}"


def test_finding_paths_lists_every_rateable_finding_in_order() -> None:
    parsed = {
        "cardiac_size": "normal",
        "pulmonary_findings": [
            "Right lower lobe opacity",
            {"finding": "Small left effusion", "severity": "mild"},
            "",
        ],
        "devices": [],
        "pleura": {"effusion": True, "pneumothorax": None},
        "impression": "x" * 200,
    }
    paths = finding_paths(parsed)
    assert [p.path for p in paths] == [
        "cardiac_size",
        "pulmonary_findings[0]",
        "pulmonary_findings[1]",
        "pleura.effusion",
        "impression",
    ]
    assert paths[0].label == "Cardiac size: normal"
    assert paths[1].label == "Pulmonary findings 1: Right lower lobe opacity"
    assert paths[2].label == "Pulmonary findings 2: Small left effusion"
    assert paths[3].label == "Pleura › Effusion: yes"
    assert paths[4].label.endswith("…") and len(paths[4].label) < 100
    assert finding_paths(None) == [] and finding_paths({}) == []
    # the paths are accepted as finding_ratings keys
    base(finding_ratings={p.path: "unsure" for p in paths})
