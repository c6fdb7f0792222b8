"""The feedback store in PostgreSQL, for several app replicas sharing one database.

`MEDGEMMA_FEEDBACK_DB=postgresql://user:password@host:5432/db` selects it (psycopg 3 and a
`psycopg_pool` connection pool per process). The schema and its migrations are the SQLite ones
(migrations.py), applied at start under an advisory lock, so replicas starting together wait for
one another. A commit is acknowledged only once PostgreSQL has made it durable
(`synchronous_commit` on, PostgreSQL's default; a warning is logged when the server has it off).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from medgemma_ui.feedback.migrations import migrate
from medgemma_ui.feedback.store import FeedbackStore, SaveListener, Writer

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)


def _sql(statement: str) -> str:
    # The store's SQL uses `?` placeholders (sqlite3's); psycopg's are `%s`. No statement here
    # contains a literal `?` or `%`.
    return statement.replace("?", "%s")


def describe_url(url: str) -> str:
    """`postgresql://alice@db.internal:5432/medgemma`: what a log may show of a database URL
    (never the password, nor other connection options)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:
        return "a PostgreSQL database (its URL could not be read)"
    user = f"{parts['user']}@" if parts.get("user") else ""
    host = str(parts.get("host") or "localhost")
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{host}{port}/{parts.get('dbname') or ''}"


class PostgresFeedbackStore(FeedbackStore):
    """Clinician feedback in PostgreSQL. One connection pool per process (a forked child opens
    its own); each write is one transaction; `iter_all` and exports read one consistent
    snapshot (REPEATABLE READ) through a server-side cursor."""

    def __init__(
        self,
        url: str,
        *,
        keep_images: bool = False,
        listeners: list[SaveListener] | None = None,
        pool_size: int = 10,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self.keep_images = keep_images
        self.listeners = list(listeners or [])
        self.pool_size = pool_size
        self.connect_timeout_s = connect_timeout_s
        self._lock = threading.Lock()
        self._pool: ConnectionPool | None = None
        self._pool_pid: int | None = None

    def describe(self) -> str:
        return describe_url(self.url)

    # -- connections ---------------------------------------------------------------------------

    def _connect_once(self) -> Any:
        import psycopg

        return psycopg.connect(
            self.url, autocommit=True, connect_timeout=max(1, int(self.connect_timeout_s))
        )

    def _pool_here(self) -> ConnectionPool:
        pid = os.getpid()
        pool = self._pool
        if pool is not None and self._pool_pid == pid:
            return pool
        with self._lock:
            if self._pool is not None and self._pool_pid == pid:
                return self._pool
            from psycopg_pool import ConnectionPool

            # Migrate on a connection of its own first: an unreachable server then fails with
            # psycopg's own sentence (refused, unknown host, bad password), not a pool timeout.
            with self._connect_once() as conn:
                migrate(conn)
                setting = conn.execute("SHOW synchronous_commit").fetchone()[0]
                if setting in ("off", "local"):
                    log.warning(
                        "PostgreSQL has synchronous_commit=%s: a rating confirmed to a clinician "
                        "could be lost if the database server crashes.",
                        setting,
                    )
            self._pool = ConnectionPool(
                self.url,
                min_size=1,
                max_size=self.pool_size,
                kwargs={"autocommit": True},
                timeout=max(30.0, self.connect_timeout_s),
                name="medgemma-feedback",
                open=True,
            )
            self._pool_pid = pid
            return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None and self._pool_pid == os.getpid():
                self._pool.close()
            self._pool = None
            self._pool_pid = None

    # -- primitives ----------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[Writer]:
        with self._pool_here().connection() as conn, conn.transaction():

            def run(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
                cursor = conn.execute(_sql(sql), params)
                return cursor.fetchall() if cursor.description else []

            yield Writer(run)

    def _fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._pool_here().connection() as conn:
            return conn.execute(_sql(sql), params).fetchall()

    def _snapshot(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        with self._pool_here().connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            with conn.cursor(name="medgemma_feedback_export") as cursor:
                cursor.itersize = 500
                cursor.execute(_sql(sql), params)
                yield from cursor
