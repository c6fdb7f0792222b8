"""The blinded comparisons' votes leave the store as the ratings do (CSV or JSON Lines, both arms
and their answers included) and come back with `feedback import`, idempotently by id, so that
sessions held on several sites can be merged. Each store kind: SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

from medgemma_ui.__main__ import main
from medgemma_ui.feedback import FeedbackStore
from medgemma_ui.feedback.export import VOTE_EXPORT_FIELDS
from medgemma_ui.feedback.importer import import_files
from tests.feedback.factory import make_record
from tests.feedback.test_comparison_store import ARMS, jpeg, vote

Target = Callable[..., Path | str]


def store_with_votes(target: Path | str) -> FeedbackStore:
    store = FeedbackStore(target)
    session = store.create_comparison("Chest pilot", ARMS, [(jpeg(n), {}) for n in range(3)])
    store.save_vote(vote(session, 0, "Dr A", "a"))
    store.save_vote(vote(session, 1, "Dr A", "both_bad", left="b"))
    store.save_vote(vote(session, 0, "Dr B", "b"))
    return store


def votes_jsonl(store: FeedbackStore) -> str:
    out = io.StringIO()
    assert store.export("jsonl", out, votes=True) == 3
    return out.getvalue()


def test_votes_go_out_and_come_back_whole_and_only_once(new_target: Target, tmp_path: Path):
    source = store_with_votes(new_target("source"))
    exported = tmp_path / "votes.jsonl"
    exported.write_text(votes_jsonl(source), encoding="utf-8")
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert [list(line) for line in lines] == [list(VOTE_EXPORT_FIELDS)] * 3
    assert {line["record_type"] for line in lines} == {"comparison_vote"}
    assert lines[0]["answer_a"] == {"raw_answers": ["{}"], "valid": True}

    merged = FeedbackStore(new_target("merged"))  # no such session here: votes stand alone
    first = import_files(merged, [exported])
    assert first.votes == {"added": 3, "updated": 0, "unchanged": 0} and not first.skipped
    assert "Read 3 comparison votes: 3 added" in first.summary()
    assert [v.to_dict() for v in merged.iter_votes()] == [v.to_dict() for v in source.iter_votes()]
    again = import_files(merged, [exported])
    assert again.votes == {"added": 0, "updated": 0, "unchanged": 3}
    assert len(list(merged.iter_votes())) == 3


def test_a_newer_copy_of_a_vote_wins_an_older_one_changes_nothing(
    new_target: Target, tmp_path: Path
):
    source = store_with_votes(new_target("source"))
    merged = FeedbackStore(new_target("merged"))
    original = json.loads(votes_jsonl(source).splitlines()[0])
    changed = original | {"vote": "both_good", "updated_at": "2099-01-01T00:00:00.000000+00:00"}
    older = original | {"vote": "b", "updated_at": "2000-01-01T00:00:00.000000+00:00"}
    for name, line in (("first", original), ("newer", changed), ("older", older)):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    assert import_files(merged, [tmp_path / "first.jsonl"]).votes["added"] == 1
    assert import_files(merged, [tmp_path / "newer.jsonl"]).votes["updated"] == 1
    assert import_files(merged, [tmp_path / "older.jsonl"]).votes["unchanged"] == 1
    (stored,) = merged.iter_votes()
    assert stored.vote == "both_good" and stored.created_at == original["created_at"]


def test_ratings_and_votes_in_one_file_and_a_bad_vote_line(new_target: Target, tmp_path: Path):
    source = store_with_votes(new_target("source"))
    source.save(make_record(0, 0))
    ratings = io.StringIO()
    source.export("jsonl", ratings)
    bad = json.loads(votes_jsonl(source).splitlines()[0]) | {"vote": "left"}
    mixed = tmp_path / "both.jsonl"
    mixed.write_text(
        ratings.getvalue() + votes_jsonl(source) + json.dumps(bad) + "\n", encoding="utf-8"
    )
    report = import_files(FeedbackStore(new_target("merged")), [mixed])
    assert report.added == 1 and report.votes["added"] == 3
    (skipped,) = report.skipped
    assert skipped.startswith("both.jsonl:5:") and "vote must be one of" in skipped


def test_the_csv_export_of_votes(new_target: Target):
    store = store_with_votes(new_target())
    assert store.count(votes=True) == 3 and store.count() == 0
    assert store.count(votes=True, session_label="Chest pilot") == 3
    assert store.count(votes=True, session_label="another session") == 0
    out = io.StringIO()
    assert store.export("csv", out, session_label="Chest pilot", votes=True) == 3
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == list(VOTE_EXPORT_FIELDS) and len(rows) == 3
    assert json.loads(rows[0]["arm_b"])["label"] == "Large model"
    assert {r["reviewer"] for r in rows} == {"Dr A", "Dr B"}
    none = io.StringIO()
    assert store.export("csv", none, session_label="another session", votes=True) == 0


def test_the_cli_exports_votes_to_a_private_file_and_imports_them(tmp_path: Path, capsys):
    source = tmp_path / "source.sqlite3"
    store_with_votes(source).close()
    out = tmp_path / "exports" / "votes.jsonl"
    export = ["feedback", "export", "--votes", "--format", "jsonl", "--out", str(out)]
    assert main([*export, "--db", str(source)]) == 0
    assert "Exported 3 comparison votes" in capsys.readouterr().err
    assert out.stat().st_mode & 0o777 == 0o600
    merged = tmp_path / "merged.sqlite3"
    assert main(["feedback", "import", str(out), "--db", str(merged)]) == 0
    assert "3 comparison votes: 3 added" in capsys.readouterr().err
    with FeedbackStore(merged) as store:
        assert len(list(store.iter_votes())) == 3


def test_votes_reach_the_hub_shard_and_come_back_from_it(new_target: Target, tmp_path: Path):
    """On a Space the disk is wiped on restart: votes go to the dataset's shards with the
    ratings, and `feedback import` of the shards restores both."""
    from medgemma_ui.feedback import HubShardWriter

    writer = HubShardWriter(tmp_path / "hub")
    store = FeedbackStore(new_target("space"), listeners=[writer])
    session = store.create_comparison("Pilot", ARMS, [(jpeg(n), {}) for n in range(2)])
    store.save(make_record(0, 0))
    first = vote(session, 0, "Dr A", "a")
    store.save_vote(first)
    store.save_vote(vote(session, 1, "Dr A", "both_good"))
    lines = [json.loads(line) for line in writer.shard.read_text().splitlines()]
    assert [line.get("record_type") for line in lines] == [
        None,
        "comparison_vote",
        "comparison_vote",
    ]
    assert lines[1]["id"] == first.id and lines[1]["updated_at"] >= lines[1]["created_at"]

    restored = FeedbackStore(new_target("after restart"))
    report = import_files(restored, [tmp_path / "hub"])
    assert report.added == 1 and report.votes["added"] == 2
    assert [v.to_dict() for v in restored.iter_votes()] == [v.to_dict() for v in store.iter_votes()]
