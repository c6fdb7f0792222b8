"""Several app replicas (separate `serve` processes) sharing one PostgreSQL, written to through
the real API (gradio_client: /analyze, then /save_feedback), as behind a load balancer."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from medgemma_ui.feedback import FeedbackStore
from tests.support.model_server import ModelServer, Script
from tests.support.replicas import Burst, rate_through_api, replica_env, replicas, scan_png

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
REPLICAS, CLIENTS, PER_CLIENT = 3, 4, 50  # 3 replicas x 4 clinicians x 50 ratings = 600


def cli_export(db: str, fmt: str = "jsonl") -> str:
    result = subprocess.run(
        [sys.executable, "-m", "medgemma_ui", "feedback", "export", "--format", fmt, "--db", db],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_three_replicas_write_600_ratings_into_one_postgresql(postgres, tmp_path: Path) -> None:
    db = postgres.new_url()  # empty: the three replicas race to migrate it at start
    with (
        ModelServer(Script(token_size=100_000)) as model,
        replicas(REPLICAS, replica_env(db, model), tmp_path) as apps,
    ):
        image = scan_png(tmp_path)
        bursts = [Burst() for _ in apps]
        threads = [
            threading.Thread(
                target=rate_through_api,
                args=(
                    app.url,
                    image,
                    [f"r{r}c{c}-{i}" for i in range(PER_CLIENT)],
                    bursts[r],
                ),
            )
            for r, app in enumerate(apps)
            for c in range(CLIENTS)
        ]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        took = time.monotonic() - started
    assert [b.errors for b in bursts] == [[], [], []]
    assert [len(b.acknowledged) for b in bursts] == [CLIENTS * PER_CLIENT] * REPLICAS
    with FeedbackStore(db) as store:
        assert store.count() == 600
        records = list(store.iter_all())
    assert sorted(r.comment for r in records) == sorted(c for b in bursts for c in b.acknowledged)
    assert len({r.id for r in records}) == 600
    assert all(r.provenance["backend"] == "openai" for r in records)
    print(f"600 ratings through 3 replicas in {took:.1f} s")

    # The same export from any process, and from SQLite after importing it there.
    first, second = cli_export(db), cli_export(db)
    assert first == second and first.count("\n") == 600
    exported = tmp_path / "pg.jsonl"
    exported.write_text(first, "utf-8")
    sqlite = tmp_path / "copy.sqlite3"
    with FeedbackStore(sqlite) as copy:
        from medgemma_ui.feedback.importer import import_files

        assert import_files(copy, [exported]).added == 600
        out = io.StringIO()
        copy.export("jsonl", out)
    assert out.getvalue() == first
    assert cli_export(db, "csv") == cli_export(str(sqlite), "csv")


def test_a_replica_killed_mid_burst_loses_nothing_it_acknowledged(postgres, tmp_path: Path) -> None:
    db = postgres.new_url()
    victim_clients, survivor_clients, survivor_each, kill_after = 3, 3, 15, 20
    with (
        ModelServer(Script(token_size=100_000)) as model,
        replicas(2, replica_env(db, model), tmp_path) as (victim, survivor),
    ):
        image = scan_png(tmp_path)
        doomed, kept = Burst(), Burst()
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=rate_through_api,
                args=(victim.url, image, [f"v{c}-{i}" for i in range(1000)], doomed),
                kwargs={"stop": stop},
            )
            for c in range(victim_clients)
        ] + [
            threading.Thread(
                target=rate_through_api,
                args=(survivor.url, image, [f"s{c}-{i}" for i in range(survivor_each)], kept),
            )
            for c in range(survivor_clients)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 300
        while len(doomed.acknowledged) < kill_after:
            assert time.monotonic() < deadline and not doomed.errors, doomed.errors
            time.sleep(0.01)
        victim.kill()  # SIGKILL while its clients are mid-request
        stop.set()
        for t in threads:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in threads)
    assert kept.errors == [] and len(kept.acknowledged) == survivor_clients * survivor_each
    with FeedbackStore(db) as store:
        comments = [r.comment for r in store.iter_all()]
    assert len(comments) == len(set(comments))  # nothing twice
    assert set(doomed.acknowledged) <= set(comments)  # nothing acknowledged lost
    assert set(kept.acknowledged) <= set(comments)
    # Beyond what was acknowledged, at most the one save per client that was in flight.
    unacknowledged = set(comments) - set(doomed.acknowledged) - set(kept.acknowledged)
    assert len(unacknowledged) <= victim_clients
    assert all(c.startswith("v") for c in unacknowledged)
    assert len(doomed.acknowledged) >= kill_after
