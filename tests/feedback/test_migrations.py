from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from medgemma_ui.feedback import FeedbackStore, SchemaVersionError
from medgemma_ui.feedback.migrations import MIGRATIONS, migrate, user_version
from tests.feedback.factory import make_record


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_empty_database_is_migrated_to_current(tmp_path: Path) -> None:
    conn = connect(tmp_path / "f.db")
    assert user_version(conn) == 0
    assert migrate(conn) == len(MIGRATIONS) == 3
    assert user_version(conn) == 3
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"feedback", "images"} <= tables


def test_current_database_is_left_alone_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "f.db"
    store = FeedbackStore(path)
    store.save(make_record(0, 0))
    store.close()
    conn = connect(path)
    schema_before = conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    assert migrate(conn) == 3
    assert conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == schema_before
    assert FeedbackStore(path).count() == 1


def test_newer_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "f.db"
    conn = connect(path)
    conn.execute("CREATE TABLE future (x)")
    conn.execute("PRAGMA user_version = 7")
    with pytest.raises(SchemaVersionError, match="schema version 7, but this version"):
        FeedbackStore(path).count()
    assert user_version(conn) == 7
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"future"}


def test_a_second_step_runs_in_order_after_the_first(tmp_path: Path) -> None:
    path = tmp_path / "f.db"
    FeedbackStore(path).save(make_record(0, 0))
    calls: list[int] = []

    def v4(conn: sqlite3.Connection) -> None:
        calls.append(user_version(conn))
        conn.execute("ALTER TABLE feedback ADD COLUMN language TEXT NOT NULL DEFAULT 'en'")

    conn = connect(path)
    assert migrate(conn, [*MIGRATIONS, v4]) == 4
    assert calls == [3]
    assert conn.execute("SELECT language FROM feedback").fetchall() == [("en",)]
    assert migrate(conn, [*MIGRATIONS, v4]) == 4 and calls == [3]  # not re-run


def test_a_version_1_database_gains_provenance_and_keeps_its_ratings(tmp_path: Path) -> None:
    path = tmp_path / "f.db"
    conn = connect(path)
    assert migrate(conn, MIGRATIONS[:1]) == 1
    record = make_record(0, 0)
    row = record.to_dict()
    columns = "id, created_at, updated_at, image_sha256, template_id, backend, valid"
    conn.execute(
        f"INSERT INTO feedback ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [row[k] for k in ("id", "created_at", "updated_at", "image_sha256")]
        + [row["template_id"], row["backend"], int(row["valid"])],
    )
    conn.close()
    store = FeedbackStore(path)
    [loaded] = list(store.iter_all())
    assert loaded.id == record.id and loaded.created_at == record.created_at
    assert loaded.provenance == {} and loaded.finding_corrections == {}
    assert loaded.added_findings == []
    updated = replace(loaded, provenance={"image_sha256": [record.image_sha256]})
    store.save(updated)
    assert next(store.iter_all()).provenance == {"image_sha256": [record.image_sha256]}


def test_failing_step_rolls_back_everything(tmp_path: Path) -> None:
    conn = connect(tmp_path / "f.db")

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("step failed")

    with pytest.raises(RuntimeError, match="step failed"):
        migrate(conn, [*MIGRATIONS, broken])
    assert user_version(conn) == 0
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


# -- PostgreSQL: the same steps, under an advisory lock ----------------------------------------


def test_postgresql_gets_the_same_schema_and_replicas_migrate_at_once(postgres) -> None:
    import threading

    import psycopg

    from medgemma_ui.feedback.migrations import schema_version

    url = postgres.new_url()
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def replica() -> None:
        try:
            start.wait(timeout=30)
            with psycopg.connect(url, autocommit=True) as conn:
                assert migrate(conn) == len(MIGRATIONS)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with psycopg.connect(url, autocommit=True) as conn:
        assert schema_version(conn) == len(MIGRATIONS)
        assert conn.execute("SELECT count(*) FROM medgemma_schema").fetchone()[0] == 1
        columns = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = 'feedback'"
            )
        }
    sqlite_conn = connect(Path(postgres.folder) / "compare.db")
    migrate(sqlite_conn)
    assert columns == {r[1] for r in sqlite_conn.execute("PRAGMA table_info(feedback)")}


def test_newer_postgresql_database_is_refused_untouched(postgres) -> None:
    import psycopg

    url = postgres.new_url()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE medgemma_schema (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO medgemma_schema VALUES (7)")
    with pytest.raises(SchemaVersionError, match="schema version 7, but this version"):
        FeedbackStore(url).count()
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('feedback')").fetchone()[0] is None


def test_failing_postgresql_step_rolls_back_everything(postgres) -> None:
    import psycopg

    url = postgres.new_url()

    def broken(conn) -> None:
        conn.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("step failed")

    with psycopg.connect(url, autocommit=True) as conn:
        with pytest.raises(RuntimeError, match="step failed"):
            migrate(conn, [*MIGRATIONS, broken])
        assert conn.execute("SELECT to_regclass('feedback')").fetchone()[0] is None
        assert conn.execute("SELECT to_regclass('half_done')").fetchone()[0] is None
