from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import sqlite3
import stat
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from medgemma_ui.feedback import EXPORT_FIELDS, FeedbackRecord, FeedbackStore
from medgemma_ui.feedback.migrations import MIGRATIONS
from medgemma_ui.feedback.postgres import PostgresFeedbackStore, describe_url
from medgemma_ui.feedback.store import SQLiteFeedbackStore
from tests.feedback.factory import comparable, make_record

Target = Callable[..., Path | str]


def query(store: FeedbackStore, sql: str) -> list[tuple[Any, ...]]:
    return store._fetchall(sql)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_created_on_first_use_with_parent_folders_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "feedback.sqlite3"
    store = FeedbackStore(path)
    assert not path.exists()
    assert store.count() == 0
    assert path.exists()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 3
    store.close()


def test_synchronous_mode_is_applied(tmp_path: Path) -> None:
    # 2 = FULL, 1 = NORMAL
    for mode, expected in (("FULL", 2), ("NORMAL", 1)):
        store = FeedbackStore(tmp_path / f"{mode}.db", synchronous=mode)  # type: ignore[arg-type]
        assert store._conn().execute("PRAGMA synchronous").fetchone()[0] == expected
        store.close()
    with pytest.raises(ValueError, match="synchronous must be"):
        FeedbackStore(tmp_path / "x.db", synchronous="OFF")  # type: ignore[arg-type]


def test_save_get_round_trip_every_field(new_target: Target) -> None:
    store = FeedbackStore(new_target())
    record = make_record(1, 2, image_jpeg=None)
    assert store.save(record) == record.id
    got = store.get(record.id)
    assert got is not None
    assert comparable(got) == comparable(record)
    assert got.updated_at >= record.created_at
    assert store.get("0" * 32) is None


def test_saving_the_same_id_updates_keeps_created_at_and_bumps_updated_at(
    new_target: Target,
) -> None:
    store = FeedbackStore(new_target())
    record = make_record(0, 1, overall_rating="disagree")
    store.save(record)
    first = store.get(record.id)
    time.sleep(0.002)
    store.save(replace(record, overall_rating="agree", comment="changed my mind"))
    second = store.get(record.id)
    assert first is not None and second is not None
    assert store.count() == 1
    assert second.overall_rating == "agree" and second.comment == "changed my mind"
    assert second.created_at == first.created_at == record.created_at
    assert second.updated_at > first.updated_at


def test_count_iter_and_session_filter(new_target: Target) -> None:
    store = FeedbackStore(new_target())
    records = [make_record(w, i) for w in range(3) for i in range(4)]
    for r in records:
        store.save(r)
    assert store.count() == 12
    assert store.count(session_label="session 1") == 4
    assert {r.id for r in store.iter_all()} == {r.id for r in records}
    assert {r.session_label for r in store.iter_all(session_label="session 2")} == {"session 2"}
    assert all(r.image_jpeg is None for r in store.iter_all())


def test_stats_counts_and_agreement_rates(new_target: Target) -> None:
    store = FeedbackStore(new_target())
    specs = [
        ("cxr", "openai", "agree"),
        ("cxr", "openai", "partly_agree"),
        ("cxr", "vertex", "disagree"),
        ("ct", "vertex", "agree"),
        ("ct", "vertex", None),
    ]
    for n, (template, backend, rating) in enumerate(specs):
        store.save(make_record(9, n, template_id=template, backend=backend, overall_rating=rating))
    stats = store.stats()
    assert stats["total"] == 5 and stats["rated"] == 4
    assert stats["by_overall"] == {"agree": 2, "partly_agree": 1, "disagree": 1, "unrated": 1}
    assert stats["agreement"] == pytest.approx(2.5 / 4)
    assert stats["by_template"] == {
        "ct": {"n": 1, "rate": 1.0},
        "cxr": {"n": 3, "rate": pytest.approx(0.5)},
    }
    assert stats["by_backend"] == {
        "openai": {"n": 2, "rate": 0.75},
        "vertex": {"n": 2, "rate": 0.5},
    }
    empty = FeedbackStore(new_target("empty")).stats()
    assert empty["total"] == 0 and empty["agreement"] is None and empty["by_template"] == {}


def test_images_are_dropped_unless_kept(new_target: Target) -> None:
    jpeg = b"\xff\xd8 pretend jpeg"
    sha = hashlib.sha256(jpeg).hexdigest()
    record = make_record(0, 0, image_sha256=sha, image_jpeg=jpeg)

    plain = FeedbackStore(new_target("plain"))
    plain.save(record)
    got = plain.get(record.id)
    assert got is not None and got.image_jpeg is None
    assert query(plain, "SELECT count(*) FROM images")[0][0] == 0

    keeping = FeedbackStore(new_target("keep"), keep_images=True)
    keeping.save(record)
    keeping.save(make_record(0, 1, image_sha256=sha, image_jpeg=jpeg))  # same image, one blob
    got = keeping.get(record.id)
    assert got is not None and got.image_jpeg == jpeg
    assert keeping.get(record.id, with_image=False).image_jpeg is None  # type: ignore[union-attr]
    assert query(keeping, "SELECT count(*) FROM images")[0][0] == 1
    assert [keeping.get(r.id).image_jpeg for r in keeping.iter_all()] == [jpeg, jpeg]  # type: ignore[union-attr]
    out = io.StringIO()
    keeping.export("jsonl", out)
    assert jpeg.decode(errors="ignore") not in out.getvalue()
    assert [json.loads(line)["image_kept"] for line in out.getvalue().splitlines()] == [True, True]


def test_schema_has_no_place_for_file_names_or_patient_tags(new_target: Target) -> None:
    store = FeedbackStore(new_target())
    store.count()
    if isinstance(store, SQLiteFeedbackStore):
        tables = {r[0] for r in query(store, "SELECT name FROM sqlite_master WHERE type='table'")}
        columns = {
            row[1].lower()
            for table in ("feedback", "images")
            for row in query(store, f"PRAGMA table_info({table})")
        }
    else:
        here = "table_schema = current_schema()"
        tables = {
            r[0]
            for r in query(store, f"SELECT table_name FROM information_schema.tables WHERE {here}")
        } - {"medgemma_schema"}
        columns = {
            r[0].lower()
            for r in query(
                store,
                "SELECT column_name FROM information_schema.columns "
                f"WHERE {here} AND table_name IN ('feedback', 'images')",
            )
        }
    assert tables == {
        "feedback",
        "images",
        "comparison_sessions",
        "comparison_items",
        "comparison_votes",
    }
    if isinstance(store, SQLiteFeedbackStore):
        every = {r[1].lower() for t in tables for r in query(store, f"PRAGMA table_info({t})")}
    else:
        every = {
            r[0].lower()
            for r in query(
                store,
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema()",
            )
        }
    forbidden = ("file", "name", "path", "patient", "dicom", "tag", "token", "uid")
    assert not [c for c in every if any(word in c for word in forbidden)], every
    # every stored column is a declared, exported field
    exported = {c.removesuffix("_json") for c in columns - {"sha256", "jpeg"}}
    exported = (exported - {"timings"}) | {"timings_ms", "image_kept"}
    assert exported == set(EXPORT_FIELDS)
    store.close()


def test_export_holds_only_declared_fields(new_target: Target) -> None:
    store = FeedbackStore(new_target())
    store.save(make_record(0, 0))
    out = io.StringIO()
    store.export("jsonl", out)
    row = json.loads(out.getvalue())
    assert tuple(row) == EXPORT_FIELDS
    out = io.StringIO()
    store.export("csv", out)
    assert out.getvalue().splitlines()[0] == ",".join(EXPORT_FIELDS)


def test_async_callers_use_to_thread(new_target: Target) -> None:
    store = FeedbackStore(new_target())

    async def submit(n: int) -> list[str]:
        return await asyncio.gather(
            *(asyncio.to_thread(store.save, make_record(5, i)) for i in range(n))
        )

    ids = asyncio.run(submit(30))
    assert sorted(ids) == sorted(make_record(5, i).id for i in range(30))
    assert store.count() == 30
    store.close()


def test_save_rejects_non_records(new_target: Target) -> None:
    store = FeedbackStore(new_target())
    with pytest.raises(TypeError, match="FeedbackRecord"):
        store.save({"id": "x"})  # type: ignore[arg-type]
    assert isinstance(make_record(), FeedbackRecord)


def test_listener_failure_does_not_lose_the_rating(
    new_target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def broken(record: FeedbackRecord) -> None:
        seen.append(record.id)
        raise OSError("disk full")

    store = FeedbackStore(new_target(), listeners=[broken])
    record_id = store.save(make_record(0, 0))
    assert seen == [record_id] and store.get(record_id) is not None
    assert "feedback listener failed" in caplog.text


def test_target_selects_the_store(tmp_path: Path) -> None:
    assert type(FeedbackStore(tmp_path / "f.db")) is SQLiteFeedbackStore
    assert type(FeedbackStore(str(tmp_path / "f.db"))) is SQLiteFeedbackStore
    for url in ("postgresql://u:secret@db.internal:5433/fb", "postgres://u:secret@db.internal/fb"):
        store = FeedbackStore(url)
        assert type(store) is PostgresFeedbackStore
        assert "secret" not in store.describe() and "db.internal" in store.describe()
    assert describe_url("postgresql://alice:pw@db:5432/medgemma?sslmode=require") == (
        "postgresql://alice@db:5432/medgemma"
    )


def test_exports_are_identical_in_sqlite_and_postgresql(tmp_path: Path, postgres: Any) -> None:
    # Timestamps with and without microseconds, ids that sort differently in a locale's
    # collation than byte-wise: the order and every byte must still be the same.
    records = [make_record(w, i) for w in range(3) for i in range(7)]
    records += [
        make_record(9, 0, created_at="2025-03-01T09:00:00.000001+00:00"),
        make_record(9, 1, created_at="2025-03-01T09:00:00+00:00", id="a" * 32),
        make_record(9, 2, created_at="2025-03-01T09:00:00+00:00", id="A".lower() * 31 + "0"),
    ]
    exports = {}
    for name, target in (("sqlite", tmp_path / "f.db"), ("postgresql", postgres.new_url())):
        with FeedbackStore(target) as store:
            # imported records keep their updated_at, so both stores hold the same bytes
            store.import_records(reversed(records))
            for fmt in ("csv", "jsonl"):
                out = io.StringIO(newline="")
                assert store.export(fmt, out) == len(records)  # type: ignore[arg-type]
                exports[name, fmt] = out.getvalue()
    for fmt in ("csv", "jsonl"):
        assert exports["sqlite", fmt] == exports["postgresql", fmt]
    ids = [json.loads(line)["id"] for line in exports["sqlite", "jsonl"].splitlines()]
    assert ids[:2] == ["a" * 31 + "0", "a" * 32]  # same created_at: by id, byte-wise


def test_sqlite_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "feedback.sqlite3"
    old_umask = os.umask(0o022)  # what a default shell gives: files 0644, folders 0755
    try:
        store = FeedbackStore(path)
        store.save(make_record(0, 0))
        for suffix in ("", "-wal", "-shm"):
            beside = path.with_name(path.name + suffix)
            assert beside.exists(), suffix
            assert mode(beside) == 0o600, (suffix, oct(mode(beside)))
        assert mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700
        store.close()
        # a database left readable by an older version is tightened when opened
        os.chmod(path, 0o644)
        with FeedbackStore(path) as again:
            assert again.count() == 1
        assert mode(path) == 0o600
    finally:
        os.umask(old_umask)


def test_unreachable_postgresql_fails_with_a_sentence_not_a_hang(tmp_path: Path) -> None:
    from tests.support.model_server import free_port

    url = f"postgresql://nobody:hunter2@127.0.0.1:{free_port()}/nothing"
    store = FeedbackStore(url, connect_timeout_s=2)  # type: ignore[call-arg]
    started = time.monotonic()
    with pytest.raises(Exception, match=r"(?i)connect|refused") as excinfo:
        store.count()
    assert time.monotonic() - started < 10
    assert "hunter2" not in str(excinfo.value)
