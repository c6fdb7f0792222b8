"""Schema versions of the feedback database, tracked in `PRAGMA user_version`.

`MIGRATIONS[i]` takes a database from version i to i + 1. To change the schema, append one function;
never edit a step that has shipped. All pending steps run in one `BEGIN IMMEDIATE` transaction, so a
crash mid-migration leaves the previous version intact and concurrent openers wait rather than race.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable


class SchemaVersionError(RuntimeError):
    """The database was written by a newer version of the app than this one."""


def _v1(conn: sqlite3.Connection) -> None:
    # No column may hold a file name or DICOM tag: the image is known only by its hash.
    conn.execute(
        """
        CREATE TABLE feedback (
            id                   TEXT PRIMARY KEY NOT NULL,
            created_at           TEXT NOT NULL,
            updated_at           TEXT NOT NULL,
            session_label        TEXT NOT NULL DEFAULT '',
            reviewer             TEXT NOT NULL DEFAULT '',
            image_sha256         TEXT NOT NULL CHECK (length(image_sha256) = 64),
            template_id          TEXT NOT NULL,
            template_version     TEXT NOT NULL DEFAULT '',
            backend              TEXT NOT NULL,
            model                TEXT NOT NULL DEFAULT '',
            generation_json      TEXT NOT NULL DEFAULT '{}',
            raw_answers_json     TEXT NOT NULL DEFAULT '[]',
            parsed_json          TEXT NOT NULL DEFAULT 'null',
            valid                INTEGER NOT NULL CHECK (valid IN (0, 1)),
            parse_errors_json    TEXT NOT NULL DEFAULT '[]',
            overall_rating       TEXT
                CHECK (overall_rating IS NULL
                       OR overall_rating IN ('agree', 'partly_agree', 'disagree')),
            finding_ratings_json TEXT NOT NULL DEFAULT '{}',
            missed_findings      TEXT NOT NULL DEFAULT '',
            corrected_impression TEXT NOT NULL DEFAULT '',
            comment              TEXT NOT NULL DEFAULT '',
            timings_json         TEXT NOT NULL DEFAULT '{}'
        )
        """
    )
    conn.execute("CREATE INDEX feedback_created_at ON feedback (created_at)")
    conn.execute("CREATE INDEX feedback_session ON feedback (session_label)")
    # Kept only when MEDGEMMA_FEEDBACK_KEEP_IMAGES is on; one row per distinct image.
    conn.execute(
        """
        CREATE TABLE images (
            sha256 TEXT PRIMARY KEY NOT NULL CHECK (length(sha256) = 64),
            jpeg   BLOB NOT NULL
        )
        """
    )


def _v2(conn: sqlite3.Connection) -> None:
    # Provenance of the rated answer, and the per-finding review of the workspace (issue 12).
    for column, default in (
        ("provenance_json", "{}"),
        ("finding_corrections_json", "{}"),
        ("added_findings_json", "[]"),
    ):
        conn.execute(f"ALTER TABLE feedback ADD COLUMN {column} TEXT NOT NULL DEFAULT '{default}'")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2]


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(
    conn: sqlite3.Connection,
    migrations: list[Callable[[sqlite3.Connection], None]] | None = None,
) -> int:
    """Bring the database up to date and return its version.

    `conn` must be in autocommit mode (`isolation_level=None`). Raises `SchemaVersionError` for a
    database newer than the known steps, rather than guessing at its layout.
    """
    steps = MIGRATIONS if migrations is None else migrations
    target = len(steps)
    if user_version(conn) == target:
        return target
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = user_version(conn)  # another process may have migrated while we waited
        if current > target:
            raise SchemaVersionError(
                f"The feedback database is at schema version {current}, but this version of "
                f"medgemma_ui knows only up to {target}. Upgrade the app, or point "
                "MEDGEMMA_FEEDBACK_DB at another file; the database was left untouched."
            )
        for step in steps[current:]:
            step(conn)
        conn.execute(f"PRAGMA user_version = {target:d}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return target
