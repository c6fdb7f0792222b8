"""The feedback store: SQLite (the default: one file, WAL mode) or PostgreSQL (several replicas).

`FeedbackStore(target)` opens SQLite for a path and PostgreSQL for a `postgresql://` URL; both
keep the same promises, tested by one suite run against each: nothing acknowledged is lost, a
saved-again record keeps its `created_at`, and exports are byte-identical.

Every method is blocking and short. From async code (Gradio handlers) call it off the event loop:
`record_id = await asyncio.to_thread(store.save, record)`.

SQLite durability: `synchronous=FULL` by default. In WAL mode NORMAL is already safe against a
killed process, but FULL also keeps the last commits across a power cut or an OS crash; a rating a
clinician saw confirmed must survive both. Measured cost: see README "Performance / Feedback store".
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TextIO, TypeVar

from medgemma_ui.feedback.comparison import (
    VOTE_COLUMNS,
    Arm,
    ComparisonItem,
    ComparisonSession,
    ComparisonVote,
)
from medgemma_ui.feedback.files import private_file, private_folder
from medgemma_ui.feedback.migrations import migrate
from medgemma_ui.feedback.record import (
    AGREEMENT_SCORE,
    OVERALL_RATINGS,
    FeedbackRecord,
    new_id,
    utc_now,
)

log = logging.getLogger(__name__)

Synchronous = Literal["NORMAL", "FULL", "EXTRA"]
# Called after a rating or a comparison vote has committed (e.g. the Hub shard writer); failures
# are logged, not raised.
SaveListener = Callable[[FeedbackRecord | ComparisonVote], None]
POSTGRES_SCHEMES = ("postgresql://", "postgres://")

_COLUMNS = (
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
    "generation_json",
    "raw_answers_json",
    "parsed_json",
    "valid",
    "parse_errors_json",
    "overall_rating",
    "finding_ratings_json",
    "missed_findings",
    "corrected_impression",
    "comment",
    "timings_json",
    "provenance_json",
    "finding_corrections_json",
    "added_findings_json",
)
_JSON_COLUMNS = {
    "generation_json": "generation",
    "raw_answers_json": "raw_answers",
    "parsed_json": "parsed",
    "parse_errors_json": "parse_errors",
    "finding_ratings_json": "finding_ratings",
    "timings_json": "timings_ms",
    "provenance_json": "provenance",
    "finding_corrections_json": "finding_corrections",
    "added_findings_json": "added_findings",
}
_UPDATABLE = [c for c in _COLUMNS if c not in ("id", "created_at")]
_INSERT = f"INSERT INTO feedback ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_UPSERT = (
    f"{_INSERT} ON CONFLICT(id) DO UPDATE SET "
    f"{', '.join(f'{c} = excluded.{c}' for c in _UPDATABLE)}"
)
# An imported record replaces the stored one only when it is newer, so importing the same file
# twice, or an older copy of a record, changes nothing.
_IMPORT = f"{_UPSERT} WHERE excluded.updated_at > feedback.updated_at"
_KEEP_IMAGE = "INSERT INTO images (sha256, jpeg) VALUES (?, ?) ON CONFLICT(sha256) DO NOTHING"
_SELECT = f"SELECT {', '.join('f.' + c for c in _COLUMNS)}, i.sha256 IS NOT NULL"
_FROM = "FROM feedback f LEFT JOIN images i ON i.sha256 = f.image_sha256"
_SELECT_WITH_IMAGE = f"SELECT {', '.join('f.' + c for c in _COLUMNS)}, i.jpeg"
IMPORT_BATCH = 500
_VOTE_UPSERT = (
    f"INSERT INTO comparison_votes ({', '.join(VOTE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(VOTE_COLUMNS))}) ON CONFLICT(id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in VOTE_COLUMNS if c not in ("id", "created_at"))
)
_VOTE_IMPORT = f"{_VOTE_UPSERT} WHERE excluded.updated_at > comparison_votes.updated_at"
Item = TypeVar("Item", FeedbackRecord, ComparisonVote)


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(POSTGRES_SCHEMES)


def _to_row(record: FeedbackRecord, updated_at: str) -> tuple[Any, ...]:
    values: dict[str, Any] = {}
    for column in _COLUMNS:
        if column in _JSON_COLUMNS:
            values[column] = json.dumps(
                getattr(record, _JSON_COLUMNS[column]), ensure_ascii=False, allow_nan=False
            )
        else:
            values[column] = getattr(record, column)
    values["valid"] = int(record.valid)
    values["updated_at"] = updated_at
    return tuple(values[c] for c in _COLUMNS)


def _from_row(row: tuple[Any, ...] | list[Any], image: bytes | None = None) -> FeedbackRecord:
    data: dict[str, Any] = {}
    for column, value in zip(_COLUMNS, row, strict=False):
        if column in _JSON_COLUMNS:
            data[_JSON_COLUMNS[column]] = json.loads(value)
        else:
            data[column] = value
    data["valid"] = bool(data["valid"])
    data["image_jpeg"] = None if image is None else bytes(image)
    return FeedbackRecord(**data)


class Writer:
    """One open write transaction: `execute` with `?` placeholders (translated for psycopg)."""

    def __init__(self, run: Callable[[str, tuple[Any, ...]], Any]) -> None:
        self._run = run

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._run(sql, params)


class FeedbackStore:
    """Clinician feedback: `FeedbackStore("data/feedback.sqlite3")` or
    `FeedbackStore("postgresql://user@host/db")`. The SQL and the record conversion are here;
    the two subclasses only connect and run transactions."""

    keep_images: bool
    listeners: list[SaveListener]

    def __new__(cls, target: Path | str, **kwargs: Any) -> FeedbackStore:
        if cls is FeedbackStore:
            if is_postgres_url(target):
                from medgemma_ui.feedback.postgres import PostgresFeedbackStore

                cls = PostgresFeedbackStore
            else:
                cls = SQLiteFeedbackStore
        return super().__new__(cls)

    # -- what a subclass provides ---------------------------------------------------------------

    def _transaction(self) -> Any:  # a context manager yielding a Writer
        raise NotImplementedError

    def _fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _snapshot(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        """Rows of one query read in one consistent snapshot, streamed."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        """Where the ratings are, for logs (never a password)."""
        raise NotImplementedError

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes --------------------------------------------------------------------------------

    def save(self, record: FeedbackRecord) -> str:
        """Insert the record, or replace the one with the same id; returns the id.

        Saving an existing id again (a changed rating) keeps its `created_at` and sets `updated_at`
        to now. The image bytes are stored only when the store keeps images.
        """
        if not isinstance(record, FeedbackRecord):
            raise TypeError(f"save() takes a FeedbackRecord, got {type(record).__name__}.")
        row = _to_row(record, utc_now())
        with self._transaction() as tx:
            tx.execute(_UPSERT, row)
            if self.keep_images and record.image_jpeg is not None:
                tx.execute(_KEEP_IMAGE, (record.image_sha256, record.image_jpeg))
        if self.listeners:
            self._notify(self.get(record.id, with_image=self.keep_images))
        return record.id

    def _notify(self, stored: FeedbackRecord | ComparisonVote | None) -> None:
        for listener in self.listeners if stored is not None else ():
            try:
                listener(stored)  # type: ignore[arg-type]
            except Exception:
                log.exception("feedback listener failed; what was saved is safe in the store")

    def import_records(self, records: Iterable[FeedbackRecord]) -> dict[str, int]:
        """Load records as they are (their own `created_at` and `updated_at`), idempotently by id:
        a record not in the store is added, one newer than the stored copy replaces it, and an
        older or equal copy changes nothing. Returns `{"added", "updated", "unchanged"}`.

        Runs in batches of `IMPORT_BATCH` records, one transaction each; several imports may run
        at once (the counts are then each import's own view).
        """

        def write(tx: Writer, record: FeedbackRecord) -> None:
            tx.execute(_IMPORT, _to_row(record, record.updated_at))
            if self.keep_images and record.image_jpeg is not None:
                tx.execute(_KEEP_IMAGE, (record.image_sha256, record.image_jpeg))

        return self._import(records, FeedbackRecord, "feedback", write)

    def import_votes(self, votes: Iterable[ComparisonVote]) -> dict[str, int]:
        """Load comparison votes as `import_records` loads records: idempotently by id, the
        newest `updated_at` winning. A vote needs no session in this store: the dashboard groups
        votes by their session label."""

        def write(tx: Writer, vote: ComparisonVote) -> None:
            tx.execute(_VOTE_IMPORT, vote.to_row(vote.updated_at))

        return self._import(votes, ComparisonVote, "comparison_votes", write)

    def _import(
        self,
        items: Iterable[Item],
        kind: type[Item],
        table: str,
        write: Callable[[Writer, Item], None],
    ) -> dict[str, int]:
        counts = {"added": 0, "updated": 0, "unchanged": 0}
        batch: dict[str, Item] = {}

        def flush() -> None:
            if not batch:
                return
            ids = tuple(batch)
            marks = ", ".join("?" * len(ids))
            with self._transaction() as tx:
                stored = dict(
                    tx.execute(f"SELECT id, updated_at FROM {table} WHERE id IN ({marks})", ids)
                )
                for item in batch.values():
                    write(tx, item)
                    before = stored.get(item.id)
                    if before is None:
                        counts["added"] += 1
                    elif item.updated_at > before:
                        counts["updated"] += 1
                    else:
                        counts["unchanged"] += 1
            batch.clear()

        for item in items:
            if not isinstance(item, kind):
                raise TypeError(f"expected {kind.__name__} objects, got {type(item).__name__}.")
            previous = batch.get(item.id)
            if previous is not None:
                # The same id twice (a Hub shard appends every change): keep the latest.
                counts["unchanged"] += 1
                if item.updated_at <= previous.updated_at:
                    continue
            batch[item.id] = item
            if len(batch) >= IMPORT_BATCH:
                flush()
        flush()
        return counts

    # -- reads ---------------------------------------------------------------------------------

    def get(self, record_id: str, *, with_image: bool = True) -> FeedbackRecord | None:
        """The record with this id, or None."""
        if with_image:
            rows = self._fetchall(f"{_SELECT_WITH_IMAGE} {_FROM} WHERE f.id = ?", (record_id,))
            return _from_row(rows[0][:-1], rows[0][-1]) if rows else None
        rows = self._fetchall(f"{_SELECT} {_FROM} WHERE f.id = ?", (record_id,))
        return _from_row(rows[0][:-1]) if rows else None

    def count(self, *, session_label: str | None = None, votes: bool = False) -> int:
        """How many ratings (`votes`: comparison votes) the store holds, or the session has."""
        if votes:
            where, params = self._where(session_label, "session_label")
            sql = f"SELECT count(*) FROM comparison_votes {where}"
        else:
            where, params = self._where(session_label)
            sql = f"SELECT count(*) {_FROM} {where}"
        return int(self._fetchall(sql, params)[0][0])

    def iter_all(self, *, session_label: str | None = None) -> Iterator[FeedbackRecord]:
        """Every record, oldest first, read in one consistent snapshot (without image bytes)."""
        for record, _ in self._iter(session_label):
            yield record

    def _iter(self, session_label: str | None) -> Iterator[tuple[FeedbackRecord, bool]]:
        where, params = self._where(session_label)
        sql = f"{_SELECT} {_FROM} {where} ORDER BY f.created_at, f.id"
        for row in self._snapshot(sql, params):
            yield _from_row(row[:-1]), bool(row[-1])

    def stats(self, *, session_label: str | None = None) -> dict[str, Any]:
        """Counts by overall rating and agreement rates (agree 1, partly 0.5, disagree 0).

        Returns `{"total", "rated", "by_overall": {rating: n, ..., "unrated": n},
        "agreement": rate | None, "by_template": {id: {"n", "rate"}}, "by_backend": {...}}`;
        rates are over rated records only, None when none is rated.
        """
        where, params = self._where(session_label)
        rows = self._fetchall(
            f"SELECT f.overall_rating, f.template_id, f.backend {_FROM} {where}", params
        )
        by_overall = dict.fromkeys(OVERALL_RATINGS, 0) | {"unrated": 0}
        groups: dict[str, dict[str, list[float]]] = {"by_template": {}, "by_backend": {}}
        scores: list[float] = []
        total = 0
        for rating, template_id, backend in rows:
            total += 1
            if rating is None:
                by_overall["unrated"] += 1
                continue
            by_overall[rating] += 1
            score = AGREEMENT_SCORE[rating]
            scores.append(score)
            groups["by_template"].setdefault(template_id, []).append(score)
            groups["by_backend"].setdefault(backend, []).append(score)

        def summary(values: list[float]) -> dict[str, Any]:
            return {"n": len(values), "rate": sum(values) / len(values)}

        return {
            "total": total,
            "rated": len(scores),
            "by_overall": by_overall,
            "agreement": sum(scores) / len(scores) if scores else None,
            **{name: {k: summary(v) for k, v in sorted(g.items())} for name, g in groups.items()},
        }

    def export(
        self,
        fmt: Literal["csv", "jsonl"],
        out: TextIO,
        *,
        session_label: str | None = None,
        votes: bool = False,
    ) -> int:
        """Write every record (`votes`: every comparison vote) to `out` as CSV or JSON Lines;
        returns the number written.

        Image bytes are never exported; `image_kept` says whether the store holds the JPEG.
        Open files for CSV with `newline=""`.
        """
        from medgemma_ui.feedback.export import write_export, write_vote_export

        if votes:
            return write_vote_export(self.iter_votes(session_label=session_label), fmt, out)
        return write_export(self._iter(session_label), fmt, out)

    # -- blinded comparisons -------------------------------------------------------------------

    def create_comparison(
        self, label: str, arms: tuple[Arm, Arm], images: Iterable[tuple[bytes, dict[str, Any]]]
    ) -> ComparisonSession:
        """A comparison session set up in advance: two arms and the prepared JPEGs (with their
        non-identifying facts) to compare them on, in order. Raises ValueError for a label that
        is taken or a session without images."""
        import hashlib

        label = (label or "").strip()
        if not label or len(label) > 200:
            raise ValueError("A comparison session needs a short name.")
        if len(arms) != 2 or arms[0].label == arms[1].label:
            raise ValueError("A comparison has two arms with different labels.")
        rows = [
            (hashlib.sha256(jpeg).hexdigest(), json.dumps(info, ensure_ascii=False), jpeg)
            for jpeg, info in images
        ]
        if not rows:
            raise ValueError("A comparison session needs at least one image.")
        session = ComparisonSession(
            id=new_id(), label=label, arms=arms, created_at=utc_now(), items=len(rows)
        )
        arms_json = json.dumps([a.to_json() for a in arms], ensure_ascii=False)
        with self._transaction() as tx:
            if tx.execute("SELECT id FROM comparison_sessions WHERE label = ?", (label,)):
                raise ValueError(f"There is already a comparison session called {label!r}.")
            tx.execute(
                "INSERT INTO comparison_sessions (id, created_at, label, arms_json) "
                "VALUES (?, ?, ?, ?)",
                (session.id, session.created_at, label, arms_json),
            )
            for position, (sha256, info, jpeg) in enumerate(rows):
                tx.execute(
                    "INSERT INTO comparison_items "
                    "(session_id, position, image_sha256, info_json, jpeg) VALUES (?, ?, ?, ?, ?)",
                    (session.id, position, sha256, info, jpeg),
                )
        return session

    def comparisons(self) -> list[ComparisonSession]:
        """Every comparison session, newest first."""
        rows = self._fetchall(
            "SELECT s.id, s.label, s.arms_json, s.created_at, count(i.position) "
            "FROM comparison_sessions s LEFT JOIN comparison_items i ON i.session_id = s.id "
            "GROUP BY s.id, s.label, s.arms_json, s.created_at ORDER BY s.created_at DESC, s.id"
        )
        return [
            ComparisonSession(
                id=row[0],
                label=row[1],
                arms=tuple(Arm.from_json(a) for a in json.loads(row[2])),  # type: ignore[arg-type]
                created_at=row[3],
                items=int(row[4]),
            )
            for row in rows
        ]

    def comparison(self, comparison_id: str) -> ComparisonSession | None:
        return next((c for c in self.comparisons() if c.id == comparison_id), None)

    def comparison_item(self, comparison_id: str, position: int) -> ComparisonItem | None:
        rows = self._fetchall(
            "SELECT image_sha256, info_json, jpeg FROM comparison_items "
            "WHERE session_id = ? AND position = ?",
            (comparison_id, position),
        )
        if not rows:
            return None
        sha256, info, jpeg = rows[0]
        return ComparisonItem(comparison_id, position, sha256, bytes(jpeg), json.loads(info))

    def next_comparison_item(
        self, comparison_id: str, reviewer: str, *, skip: Iterable[int] = ()
    ) -> int | None:
        """The first image of the session this reviewer has not voted on (and not in `skip`),
        or None when they have been through all of them."""
        rows = self._fetchall(
            "SELECT position FROM comparison_items WHERE session_id = ? AND position NOT IN ("
            "SELECT item_position FROM comparison_votes WHERE comparison_id = ? AND reviewer = ? "
            "AND item_position IS NOT NULL) ORDER BY position",
            (comparison_id, comparison_id, reviewer),
        )
        skipped = set(skip)
        return next((int(r[0]) for r in rows if int(r[0]) not in skipped), None)

    def save_vote(self, vote: ComparisonVote) -> str:
        """Insert the vote (or replace the one with the same id, keeping `created_at`)."""
        if not isinstance(vote, ComparisonVote):
            raise TypeError(f"save_vote() takes a ComparisonVote, got {type(vote).__name__}.")
        with self._transaction() as tx:
            tx.execute(_VOTE_UPSERT, vote.to_row(utc_now()))
        if self.listeners:
            self._notify(self.get_vote(vote.id))
        return vote.id

    def get_vote(self, vote_id: str) -> ComparisonVote | None:
        columns = ", ".join(VOTE_COLUMNS)
        rows = self._fetchall(f"SELECT {columns} FROM comparison_votes WHERE id = ?", (vote_id,))
        return ComparisonVote.from_row(rows[0]) if rows else None

    def iter_votes(self, *, session_label: str | None = None) -> Iterator[ComparisonVote]:
        """Every comparison vote, oldest first."""
        where, params = self._where(session_label, "session_label")
        columns = ", ".join(VOTE_COLUMNS)
        sql = f"SELECT {columns} FROM comparison_votes {where} ORDER BY created_at, id"
        for row in self._snapshot(sql, params):
            yield ComparisonVote.from_row(row)

    @staticmethod
    def _where(
        session_label: str | None, column: str = "f.session_label"
    ) -> tuple[str, tuple[Any, ...]]:
        if session_label is None:
            return "", ()
        return f"WHERE {column} = ?", (session_label,)


class SQLiteFeedbackStore(FeedbackStore):
    """Clinician feedback in one SQLite file, created (with parent folders) on first use.

    The file, and the WAL and shared-memory files beside it, have mode 0600; folders the store
    creates have mode 0700. One connection per thread and per process (a forked child opens its
    own). Writes are single `BEGIN IMMEDIATE` transactions, so concurrent writers queue on the
    lock (up to `busy_timeout_ms`) instead of failing or losing rows.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        keep_images: bool = False,
        synchronous: Synchronous = "FULL",
        busy_timeout_ms: int = 30_000,
        listeners: list[SaveListener] | None = None,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be NORMAL, FULL or EXTRA, got {synchronous!r}.")
        self.path = Path(path)
        self.keep_images = keep_images
        self.synchronous = synchronous
        self.busy_timeout_ms = busy_timeout_ms
        self.listeners = list(listeners or [])
        self._local = threading.local()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._migrated_pid: int | None = None
        self._connections: list[tuple[int, sqlite3.Connection]] = []

    def describe(self) -> str:
        return str(self.path)

    # -- connections ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        private_folder(self.path.parent)
        private_file(self.path)  # before SQLite creates it: its WAL and SHM files copy this mode
        for suffix in ("-wal", "-shm"):
            beside = self.path.with_name(self.path.name + suffix)
            if beside.exists():
                private_file(beside)
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_ms / 1000,
            isolation_level=None,  # explicit BEGIN IMMEDIATE / COMMIT below
            check_same_thread=False,  # only so close() may close every thread's connection
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        self._enable_wal(conn)
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # WAL is a property of the file: set once, then every opener sees it. Switching needs an
        # exclusive lock, and SQLite answers "database is locked" without waiting on the busy
        # handler when several openers race on a fresh file, so retry within busy_timeout.
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                    return
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)
                continue
            if mode != "wal":
                log.warning("SQLite refused WAL mode for %s (got %s)", self.path, mode)
            return

    def _conn(self) -> sqlite3.Connection:
        pid = os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == pid:
            return conn
        conn = self._connect()
        with self._lock:
            if self._migrated_pid != pid:
                migrate(conn)
                self._migrated_pid = pid
            self._connections.append((pid, conn))
        self._local.conn, self._local.pid = conn, pid
        return conn

    def close(self) -> None:
        """Close every connection this store opened in this process (not ones inherited by fork)."""
        with self._lock:
            pid = os.getpid()
            for owner, conn in self._connections:
                if owner == pid:
                    conn.close()
            self._connections.clear()
            self._local = threading.local()

    # -- primitives ----------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[Writer]:
        conn = self._conn()
        # Threads of one process queue on this lock instead of SQLite's busy handler, which
        # polls with sleeps of up to 100 ms; other processes still meet the SQLite lock.
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Writer(lambda sql, params: conn.execute(sql, params).fetchall())
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._conn().execute(sql, params).fetchall()

    def _snapshot(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        self._conn()  # creates and migrates the database if needed
        # Its own connection, so a slow consumer never holds this thread's connection mid-read.
        conn = self._connect()
        try:
            conn.execute("BEGIN")
            yield from conn.execute(sql, params)
            conn.execute("COMMIT")
        finally:
            conn.close()
