"""Schema versions of the feedback database: one set of steps for SQLite and PostgreSQL.

`MIGRATIONS[i]` takes a database from version i to i + 1. To change the schema, append one
step; never edit a step that has shipped. A step is a function of the open connection (`sqlite3`
or `psycopg`, both have `.execute(sql)`); `_statements(...)` makes one from SQL both accept, with
`{key}` (text sorted byte-wise) and `{blob}` (BLOB is BYTEA in PostgreSQL) filled in for the
types that differ. `dialect(conn)` says which database a step was given.

All pending steps run in one transaction that first takes the database's migration lock, so a
crash mid-migration leaves the previous version intact and several replicas starting at once
wait for each other instead of racing: SQLite's `BEGIN IMMEDIATE` (the version is in
`PRAGMA user_version`), PostgreSQL's `pg_advisory_xact_lock` (the version is in the one-row table
`medgemma_schema`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, Literal

Dialect = Literal["sqlite", "postgresql"]
Step = Callable[[Any], None]
# pg_advisory_xact_lock key: any constant shared by every replica ("medgemma" in ASCII).
PG_MIGRATION_LOCK = 0x6D6564_67656D6D


class SchemaVersionError(RuntimeError):
    """The database was written by a newer version of the app than this one."""


def dialect(conn: Any) -> Dialect:
    return "sqlite" if isinstance(conn, sqlite3.Connection) else "postgresql"


def _text_key(conn: Any) -> str:
    # Ids and ISO timestamps are compared and sorted byte-wise in both databases, so exports
    # come out in the same order whatever collation a PostgreSQL database was created with.
    return 'TEXT COLLATE "C"' if dialect(conn) == "postgresql" else "TEXT"


def _blob(conn: Any) -> str:
    return "BYTEA" if dialect(conn) == "postgresql" else "BLOB"


def _statements(*sql: str) -> Step:
    """A step that runs these statements in order, with `{key}` and `{blob}` replaced by this
    database's types for them (so `{{` and `}}` stand for a literal brace)."""

    def step(conn: Any) -> None:
        types = {"key": _text_key(conn), "blob": _blob(conn)}
        for statement in sql:
            conn.execute(statement.format(**types))

    return step


_v1 = _statements(
    # No column may hold a file name or DICOM tag: the image is known only by its hash.
    """
        CREATE TABLE feedback (
            id                   {key} PRIMARY KEY NOT NULL,
            created_at           {key} NOT NULL,
            updated_at           {key} NOT NULL,
            session_label        TEXT NOT NULL DEFAULT '',
            reviewer             TEXT NOT NULL DEFAULT '',
            image_sha256         TEXT NOT NULL CHECK (length(image_sha256) = 64),
            template_id          TEXT NOT NULL,
            template_version     TEXT NOT NULL DEFAULT '',
            backend              TEXT NOT NULL,
            model                TEXT NOT NULL DEFAULT '',
            generation_json      TEXT NOT NULL DEFAULT '{{}}',
            raw_answers_json     TEXT NOT NULL DEFAULT '[]',
            parsed_json          TEXT NOT NULL DEFAULT 'null',
            valid                INTEGER NOT NULL CHECK (valid IN (0, 1)),
            parse_errors_json    TEXT NOT NULL DEFAULT '[]',
            overall_rating       TEXT
                CHECK (overall_rating IS NULL
                       OR overall_rating IN ('agree', 'partly_agree', 'disagree')),
            finding_ratings_json TEXT NOT NULL DEFAULT '{{}}',
            missed_findings      TEXT NOT NULL DEFAULT '',
            corrected_impression TEXT NOT NULL DEFAULT '',
            comment              TEXT NOT NULL DEFAULT '',
            timings_json         TEXT NOT NULL DEFAULT '{{}}'
        )
        """,
    "CREATE INDEX feedback_created_at ON feedback (created_at)",
    "CREATE INDEX feedback_session ON feedback (session_label)",
    # Kept only when MEDGEMMA_FEEDBACK_KEEP_IMAGES is on; one row per distinct image.
    """
        CREATE TABLE images (
            sha256 TEXT PRIMARY KEY NOT NULL CHECK (length(sha256) = 64),
            jpeg   {blob} NOT NULL
        )
        """,
)

_v2 = _statements(
    # Provenance of the rated answer, and the per-finding review of the workspace (issue 12).
    "ALTER TABLE feedback ADD COLUMN provenance_json TEXT NOT NULL DEFAULT '{{}}'",
    "ALTER TABLE feedback ADD COLUMN finding_corrections_json TEXT NOT NULL DEFAULT '{{}}'",
    "ALTER TABLE feedback ADD COLUMN added_findings_json TEXT NOT NULL DEFAULT '[]'",
)

_v3 = _statements(
    # Blinded comparisons (issue 17): sessions set up in advance (two arms and the prepared
    # images to compare, identified by their hash), and every vote with both arms' provenance.
    """
        CREATE TABLE comparison_sessions (
            id         {key} PRIMARY KEY NOT NULL,
            created_at {key} NOT NULL,
            label      TEXT NOT NULL UNIQUE,
            arms_json  TEXT NOT NULL
        )
        """,
    """
        CREATE TABLE comparison_items (
            session_id   {key} NOT NULL REFERENCES comparison_sessions (id) ON DELETE CASCADE,
            position     INTEGER NOT NULL,
            image_sha256 TEXT NOT NULL CHECK (length(image_sha256) = 64),
            info_json    TEXT NOT NULL DEFAULT '{{}}',
            jpeg         {blob} NOT NULL,
            PRIMARY KEY (session_id, position)
        )
        """,
    """
        CREATE TABLE comparison_votes (
            id                {key} PRIMARY KEY NOT NULL,
            created_at        {key} NOT NULL,
            updated_at        {key} NOT NULL,
            comparison_id     TEXT NOT NULL DEFAULT '',
            item_position     INTEGER,
            session_label     TEXT NOT NULL DEFAULT '',
            reviewer          TEXT NOT NULL DEFAULT '',
            image_sha256      TEXT NOT NULL CHECK (length(image_sha256) = 64),
            arm_a_json        TEXT NOT NULL,
            arm_b_json        TEXT NOT NULL,
            left_arm          TEXT NOT NULL CHECK (left_arm IN ('a', 'b')),
            vote              TEXT NOT NULL CHECK (vote IN ('a', 'b', 'both_good', 'both_bad')),
            provenance_a_json TEXT NOT NULL DEFAULT '{{}}',
            provenance_b_json TEXT NOT NULL DEFAULT '{{}}',
            answer_a_json     TEXT NOT NULL DEFAULT '{{}}',
            answer_b_json     TEXT NOT NULL DEFAULT '{{}}',
            comment           TEXT NOT NULL DEFAULT ''
        )
        """,
    "CREATE INDEX comparison_votes_by ON comparison_votes (comparison_id, reviewer)",
)


MIGRATIONS: list[Step] = [_v1, _v2, _v3]


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def schema_version(conn: Any) -> int:
    """The version a database is at (0: empty)."""
    if dialect(conn) == "sqlite":
        return user_version(conn)
    if conn.execute("SELECT to_regclass('medgemma_schema')").fetchone()[0] is None:
        return 0
    row = conn.execute("SELECT version FROM medgemma_schema").fetchone()
    return int(row[0]) if row else 0


def _newer(current: int, target: int) -> SchemaVersionError:
    return SchemaVersionError(
        f"The feedback database is at schema version {current}, but this version of "
        f"medgemma_ui knows only up to {target}. Upgrade the app, or point "
        "MEDGEMMA_FEEDBACK_DB at another database; the database was left untouched."
    )


def migrate(conn: Any, migrations: list[Step] | None = None) -> int:
    """Bring the database up to date and return its version.

    `conn` must be in autocommit mode (`isolation_level=None` for sqlite3, `autocommit=True` for
    psycopg). Raises `SchemaVersionError` for a database newer than the known steps, rather than
    guessing at its layout.
    """
    steps = MIGRATIONS if migrations is None else migrations
    target = len(steps)
    if dialect(conn) == "postgresql":
        return _migrate_postgresql(conn, steps)
    if user_version(conn) == target:
        return target
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = user_version(conn)  # another process may have migrated while we waited
        if current > target:
            raise _newer(current, target)
        for step in steps[current:]:
            step(conn)
        conn.execute(f"PRAGMA user_version = {target:d}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return target


def _migrate_postgresql(conn: Any, steps: list[Step]) -> int:
    target = len(steps)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (PG_MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS medgemma_schema (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM medgemma_schema").fetchone()
        if row is None:
            conn.execute("INSERT INTO medgemma_schema (version) VALUES (0)")
        current = int(row[0]) if row else 0
        if current > target:
            raise _newer(current, target)
        for step in steps[current:]:
            step(conn)
        conn.execute("UPDATE medgemma_schema SET version = %s", (target,))
    return target
