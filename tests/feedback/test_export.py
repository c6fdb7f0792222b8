from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medgemma_ui.feedback import FeedbackStore, write_export
from tests.feedback.exports import read_export, records_from_export
from tests.feedback.factory import comparable, make_record


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_round_trips_through_a_real_file(tmp_path: Path, fmt: str, new_target) -> None:
    store = FeedbackStore(new_target())
    records = [make_record(w, i) for w in range(2) for i in range(5)]
    records.append(make_record(7, 7, parsed=None, valid=False, raw_answers=[], generation={}))
    for r in records:
        store.save(r)
    out_path = tmp_path / f"out.{fmt}"
    with out_path.open("w", encoding="utf-8", newline="") as out:
        assert store.export(fmt, out) == len(records)  # type: ignore[arg-type]
    with out_path.open(encoding="utf-8", newline="") as src:
        back = records_from_export(fmt, src)  # type: ignore[arg-type]
    stored = {r.id: r for r in store.iter_all()}
    assert [r.id for r in back] == list(stored)
    for record in back:
        assert record == stored[record.id]
        original = next(r for r in records if r.id == record.id)
        assert comparable(record) == comparable(replace(original, image_jpeg=None))


def test_export_filters_by_session_and_rejects_unknown_format(new_target) -> None:
    store = FeedbackStore(new_target())
    for i in range(6):
        store.save(make_record(i, 0))
    out = io.StringIO()
    assert store.export("jsonl", out, session_label="session 0") == 2
    assert {r["session_label"] for r in read_export("jsonl", io.StringIO(out.getvalue()))} == {
        "session 0"
    }
    with pytest.raises(ValueError, match="export format must be one of csv, jsonl"):
        store.export("xlsx", io.StringIO())  # type: ignore[arg-type]


free_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=60,
)


@settings(max_examples=40, deadline=None)
@given(comment=free_text, missed=free_text, impression=free_text, reviewer=free_text)
def test_any_free_text_survives_both_formats(
    comment: str, missed: str, impression: str, reviewer: str
) -> None:
    record = make_record(
        0,
        1,
        comment=comment,
        missed_findings=missed,
        corrected_impression=impression,
        reviewer=reviewer,
    )
    for fmt in ("csv", "jsonl"):
        buffer = io.StringIO(newline="")
        write_export([(record, False)], fmt, buffer)  # type: ignore[arg-type]
        buffer.seek(0)
        (back,) = records_from_export(fmt, buffer)  # type: ignore[arg-type]
        assert back == replace(record, image_jpeg=None)


def test_export_file_is_private_and_never_half_written(tmp_path: Path) -> None:
    import os
    import stat

    from medgemma_ui.feedback.export import export_to_file

    store = FeedbackStore(tmp_path / "f.db")
    store.save(make_record(0, 0))
    old = os.umask(0o022)
    try:
        out = tmp_path / "exports" / "new" / "ratings.jsonl"
        assert export_to_file(store, "jsonl", out) == 1
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(out.parent.parent.stat().st_mode) == 0o700
    assert not out.with_name("ratings.jsonl.partial").exists()

    class Broken(Exception):
        pass

    def fail(*args: object, **kwargs: object) -> int:
        raise Broken

    store.export = fail  # type: ignore[method-assign]
    with pytest.raises(Broken):
        export_to_file(store, "jsonl", out)
    assert out.read_text().count("\n") == 1  # the earlier export is untouched
    assert not out.with_name("ratings.jsonl.partial").exists()
