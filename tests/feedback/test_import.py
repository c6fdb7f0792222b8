"""`feedback import`: exports and Hub shards into either store, idempotently by record id."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from medgemma_ui.__main__ import main
from medgemma_ui.feedback import FeedbackStore, HubShardWriter
from medgemma_ui.feedback.export import export_row
from medgemma_ui.feedback.importer import import_files
from tests.feedback.factory import comparable, make_record

ROOT = Path(__file__).resolve().parents[2]
Target = Callable[..., Path | str]
V1_FIELDS = [
    "id",
    "created_at",
    "updated_at",
    "session_label",
    "reviewer",
    "image_sha256",
    "template_id",
    "template_version",
    "backend",
    "model",
    "generation",
    "raw_answers",
    "parsed",
    "valid",
    "parse_errors",
    "overall_rating",
    "finding_ratings",
    "missed_findings",
    "corrected_impression",
    "comment",
    "timings_ms",
    "image_kept",
]


def export_text(store: FeedbackStore) -> str:
    out = io.StringIO()
    store.export("jsonl", out)
    return out.getvalue()


def write_lines(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def test_an_export_loads_into_another_store_identically_and_twice_changes_nothing(
    new_target: Target, tmp_path: Path
) -> None:
    source = FeedbackStore(new_target("source"))
    for w in range(2):
        for i in range(30):
            source.save(make_record(w, i))
    exported = tmp_path / "ratings.jsonl"
    exported.write_text(export_text(source), "utf-8")

    merged = FeedbackStore(new_target("merged"))
    merged.save(make_record(7, 7))  # a session already there: merging keeps it
    first = import_files(merged, [exported])
    assert (first.added, first.updated, first.unchanged, first.skipped) == (60, 0, 0, [])
    second = import_files(merged, [exported])
    assert (second.added, second.updated, second.unchanged) == (0, 0, 60)
    assert merged.count() == 61
    assert export_text(merged).count("\n") == 61
    only_imported = [
        line for line in export_text(merged).splitlines() if make_record(7, 7).id not in line
    ]
    assert "\n".join(only_imported) + "\n" == export_text(source)  # byte for byte


def test_a_newer_copy_replaces_an_older_one_never_the_reverse(new_target: Target, tmp_path: Path):
    store = FeedbackStore(new_target())
    old = make_record(0, 0, overall_rating="disagree", updated_at="2025-03-01T10:00:00+00:00")
    new = replace(old, overall_rating="agree", updated_at="2025-03-02T10:00:00+00:00")
    store.import_records([old])
    newer = write_lines(tmp_path / "new.jsonl", [export_row(new, False)])
    older = write_lines(tmp_path / "old.jsonl", [export_row(old, False)])
    assert import_files(store, [newer]).updated == 1
    assert import_files(store, [older]).unchanged == 1
    got = store.get(old.id)
    assert got is not None and got.overall_rating == "agree"
    assert got.created_at == old.created_at and got.updated_at == new.updated_at


def test_exports_of_the_first_version_are_read(new_target: Target, tmp_path: Path) -> None:
    rows = []
    for i in range(4):
        row = export_row(make_record(3, i), False)
        rows.append({k: row[k] for k in V1_FIELDS})
    path = write_lines(tmp_path / "v1.jsonl", rows)
    store = FeedbackStore(new_target())
    report = import_files(store, [path])
    assert report.added == 4 and report.skipped == []
    record = store.get(make_record(3, 1).id)
    assert record is not None
    assert record.provenance == {} and record.added_findings == []
    assert record.finding_ratings == {"cardiac_size": "correct", "pulmonary_findings[0]": "unsure"}
    assert comparable(replace(record, provenance={})) == comparable(
        replace(make_record(3, 1), provenance={})
    )


def test_hub_shards_keep_the_latest_line_of_each_id_and_their_images(
    new_target: Target, tmp_path: Path
) -> None:
    hub = tmp_path / "dataset"
    jpeg = b"\xff\xd8 kept jpeg"
    sha = hashlib.sha256(jpeg).hexdigest()
    a, b = HubShardWriter(hub, keep_images=True), HubShardWriter(hub, keep_images=True)
    first = make_record(
        1, 0, image_sha256=sha, image_jpeg=jpeg, updated_at="2025-03-01T10:00:00+00:00"
    )
    a(first)
    a(replace(first, overall_rating="agree", updated_at="2025-03-01T11:00:00+00:00"))
    b(make_record(2, 0))
    b(replace(first, comment="stale copy", updated_at="2025-03-01T10:30:00+00:00"))
    store = FeedbackStore(new_target(), keep_images=True)
    report = import_files(store, [hub])  # the folder: every shard under it
    assert report.files == 2 and report.skipped == []
    assert store.count() == 2
    got = store.get(first.id)
    assert got is not None and got.overall_rating == "agree" and got.comment == first.comment
    assert got.image_jpeg == jpeg
    without = FeedbackStore(new_target("plain"))
    import_files(without, [hub])
    assert without.get(first.id).image_jpeg is None  # type: ignore[union-attr]


def test_bad_lines_are_listed_and_skipped_with_exit_status_1(
    new_target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = export_row(make_record(0, 0), False)
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        json.dumps(good)
        + "\n\nnot json\n"
        + json.dumps(good | {"overall_rating": "maybe"})
        + "\n"
        + json.dumps(good | {"file_name": "john.dcm"})
        + "\n"
        + json.dumps({"id": "0" * 32})
        + "\n",
        "utf-8",
    )
    target = new_target()
    assert main(["feedback", "import", str(path), "--db", str(target)]) == 1
    err = capsys.readouterr().err
    assert "1 added" in err and "4 lines skipped" in err
    assert "mixed.jsonl:3:" in err and "mixed.jsonl:4: overall_rating must be one of" in err
    assert "unknown fields file_name" in err and "mixed.jsonl:6:" in err
    with FeedbackStore(target) as store:
        assert store.count() == 1
    assert main(["feedback", "import", str(tmp_path / "missing.jsonl"), "--db", str(target)]) == 2


def test_several_imports_at_once_end_with_each_record_once(
    new_target: Target, tmp_path: Path
) -> None:
    # Three overlapping exports imported by three processes at the same time.
    files = []
    for k in range(3):
        rows = [export_row(make_record(w, i), False) for w in range(k, k + 2) for i in range(150)]
        files.append(write_lines(tmp_path / f"part-{k}.jsonl", rows))
    target = new_target()
    with FeedbackStore(target) as store:
        store.count()  # created beforehand; creation races are tested in test_concurrency
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "medgemma_ui",
                "feedback",
                "import",
                str(f),
                "--db",
                str(target),
            ],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in files
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    with FeedbackStore(target) as store:
        assert store.count() == 4 * 150
        stored = {r.id: r for r in store.iter_all()}
    for w in range(4):
        for i in range(0, 150, 7):
            assert comparable(stored[make_record(w, i).id]) == comparable(make_record(w, i))
