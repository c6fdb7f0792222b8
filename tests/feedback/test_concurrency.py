"""Many writers, threads and processes, and a writer killed mid-loop: nothing lost or duplicated."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

from medgemma_ui.feedback import FeedbackStore
from tests.feedback.factory import comparable, make_record

WRITERS, PER_WRITER = 20, 50
ROOT = Path(__file__).resolve().parents[2]


def assert_all_intact(path: Path, writers: int, per_writer: int) -> None:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = FeedbackStore(path)
    assert store.count() == writers * per_writer
    ids = [r[0] for r in store._conn().execute("SELECT id FROM feedback")]
    assert len(ids) == len(set(ids))
    stored = {r.id: r for r in store.iter_all()}
    for w in range(writers):
        for i in range(per_writer):
            expected = make_record(w, i)
            assert comparable(stored[expected.id]) == comparable(expected), (w, i)
    store.close()


def writer_process(db: Path, writer: int, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.feedback.writer", str(db), str(writer), str(count)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_twenty_threads_fifty_ratings_each(tmp_path: Path) -> None:
    db = tmp_path / "f.db"
    store = FeedbackStore(db)
    errors: list[BaseException] = []
    start = threading.Barrier(WRITERS)

    def run(w: int) -> None:
        try:
            start.wait(timeout=30)
            for i in range(PER_WRITER):
                store.save(make_record(w, i))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert not any(t.is_alive() for t in threads)
    store.close()
    assert_all_intact(db, WRITERS, PER_WRITER)


def test_twenty_processes_fifty_ratings_each(tmp_path: Path) -> None:
    db = tmp_path / "f.db"  # not created beforehand: the processes race to create and migrate it
    procs = [writer_process(db, w, PER_WRITER) for w in range(WRITERS)]
    reported: list[str] = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        reported += out.split()
    assert len(reported) == len(set(reported)) == WRITERS * PER_WRITER
    assert_all_intact(db, WRITERS, PER_WRITER)


def test_updates_of_one_id_from_two_writers_end_as_one_row(tmp_path: Path) -> None:
    db = tmp_path / "f.db"
    base = make_record(0, 0)
    stores = [FeedbackStore(db), FeedbackStore(db)]  # two independent stores, as two workers
    ratings = ("agree", "disagree")

    def run(k: int) -> None:
        for n in range(40):
            stores[k].save(replace(base, overall_rating=ratings[k], comment=f"{k}:{n}"))

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert stores[0].count() == 1
    final = stores[1].get(base.id)
    assert final is not None
    assert final.created_at == base.created_at
    k, n = final.comment.split(":")
    assert final.overall_rating == ratings[int(k)]  # one writer's whole record, never a mix
    assert int(n) == 39  # the last commit is the last save of whichever writer finished last


def test_killed_writer_leaves_a_readable_database_with_every_committed_row(
    tmp_path: Path,
) -> None:
    rng = random.Random(os.getpid())
    for attempt in range(3):
        db = tmp_path / f"killed-{attempt}.db"
        # a second, live writer keeps the lock contended while the victim dies
        survivor = writer_process(db, 100 + attempt, 200)
        victim = writer_process(db, attempt, 100_000)
        assert victim.stdout is not None
        kill_after = rng.randint(5, 60)
        committed: list[str] = []
        for _ in range(kill_after):
            line = victim.stdout.readline()
            assert line, "writer died before it was killed"
            committed.append(line.strip())
        os.kill(victim.pid, signal.SIGKILL)
        rest, _ = victim.communicate(timeout=30)
        committed += rest.split()  # lines it printed after commit but before the kill landed
        assert victim.returncode == -signal.SIGKILL
        survivor_out, _ = survivor.communicate(timeout=120)
        assert survivor.returncode == 0

        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        present = {r[0] for r in conn.execute("SELECT id FROM feedback")}
        assert set(committed) <= present
        assert set(survivor_out.split()) <= present
        assert len(survivor_out.split()) == 200
        # at most the one transaction in flight when killed may be extra
        assert len(present) - len(committed) - 200 in (0, 1)
        conn.close()
        store = FeedbackStore(db)  # and the store still opens and writes
        store.save(make_record(999, attempt))
        assert store.count() == len(present) + 1
        store.close()
