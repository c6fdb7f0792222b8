"""Feedback store write throughput and latency, SQLite and PostgreSQL.

    .venv/bin/python benchmarks/feedback.py [--writers 20] [--per-writer 50] [--repeat 3]
                                            [--replicas 3] [--clients 20] [--api-ratings 3]
                                            [--skip-sqlite] [--skip-postgres]

SQLite: 20 writers (threads, or processes) save fully populated records into one fresh file in
WAL mode; the clock starts when every writer is ready (a barrier) and stops when the last commit
returns. Median of --repeat runs.

PostgreSQL (Debian's server, started here by initdb in a temporary folder with fsync on, on a
loopback port): (1) the store itself, `--replicas` processes x `--clients` threads saving
`--per-writer` records each: ratings/s and the save latency each thread measured (p50, p95);
(2) the real path, `--replicas` app processes (`python -m medgemma_ui serve`) with `--clients`
gradio_client users each, every rating an /analyze then a /save_feedback through the API:
acknowledged ratings/s over the burst and the /save_feedback round trip (p50, p95).
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medgemma_ui.feedback import FeedbackRecord, FeedbackStore


def record(writer: int, i: int) -> FeedbackRecord:
    return FeedbackRecord(
        session_label="bench",
        reviewer=f"reviewer {writer}",
        image_sha256=hashlib.sha256(f"{writer}-{i}".encode()).hexdigest(),
        template_id="cxr",
        template_version="1",
        backend="openai",
        model="google/medgemma-4b-it",
        generation={"max_tokens": 512, "temperature": 0.0, "structured_output": True},
        raw_answers=['{"cardiac_size": "normal", "impression": "No acute findings."}' * 8],
        parsed={"cardiac_size": "normal", "pulmonary_findings": ["none"], "impression": "ok"},
        valid=True,
        overall_rating="agree",
        finding_ratings={"cardiac_size": "correct", "pulmonary_findings[0]": "unsure"},
        comment="Looks right; the effusion is subtle. " * 3,
        timings_ms={"prepare": 40.0, "model": 2100.0},
    )


def _write(db: str, sync: str, writer: int, n: int, barrier: Any) -> None:
    store = FeedbackStore(db, synchronous=sync)  # type: ignore[arg-type]
    store.count()  # connect (and migrate) before the clock starts
    records = [record(writer, i) for i in range(n)]
    barrier.wait()
    for r in records:
        store.save(r)
    store.close()


def run_once(kind: str, sync: str, writers: int, per_writer: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "feedback.sqlite3")
        FeedbackStore(db).count()
        if kind == "threads":
            barrier: Any = threading.Barrier(writers + 1)
            workers: list[Any] = [
                threading.Thread(target=_write, args=(db, sync, w, per_writer, barrier))
                for w in range(writers)
            ]
        else:
            ctx = mp.get_context("spawn")
            barrier = ctx.Barrier(writers + 1)
            workers = [
                ctx.Process(target=_write, args=(db, sync, w, per_writer, barrier))
                for w in range(writers)
            ]
        for w in workers:
            w.start()
        barrier.wait()
        start = time.perf_counter()
        for w in workers:
            w.join(timeout=600)
        elapsed = time.perf_counter() - start
        count = FeedbackStore(db).count()
        if count != writers * per_writer:
            raise SystemExit(f"lost rows: {count} != {writers * per_writer}")
        return writers * per_writer / elapsed


def _pg_writer(
    url: str, writer: int, threads: int, per_thread: int, barrier: Any, out: Any
) -> None:
    store = FeedbackStore(url, pool_size=threads)  # type: ignore[call-arg]
    store.count()  # connect (and migrate) before the clock starts
    latencies: list[float] = []
    lock = threading.Lock()

    def run(t: int) -> None:
        records = [record(writer * 1000 + t, i) for i in range(per_thread)]
        mine = []
        for r in records:
            started = time.perf_counter()
            store.save(r)
            mine.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    barrier.wait()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    store.close()
    out.put(latencies)


def postgres_store_rows(url: str, replicas: int, clients: int, per_client: int) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(replicas + 1), ctx.Queue()
    procs = [
        ctx.Process(target=_pg_writer, args=(url, w, clients, per_client, barrier, out))
        for w in range(replicas)
    ]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.perf_counter()
    latencies: list[float] = []
    for _ in procs:
        latencies += out.get(timeout=900)
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join(timeout=60)
    expected = replicas * clients * per_client
    with FeedbackStore(url) as check:
        count = check.count()
    if count != expected:
        raise SystemExit(f"lost rows: {count} != {expected}")
    return {
        "rate": expected / elapsed,
        "p50": float(np.percentile(latencies, 50)),
        "p95": float(np.percentile(latencies, 95)),
    }


def postgres_api_rows(
    url: str, replicas: int, clients: int, per_client: int, folder: Path
) -> dict[str, float]:
    from tests.support.model_server import ModelServer, Script
    from tests.support.replicas import Burst, rate_through_api, replica_env, scan_png
    from tests.support.replicas import replicas as start_replicas

    with (
        ModelServer(Script(token_size=100_000)) as model,
        start_replicas(replicas, replica_env(url, model), folder) as apps,
    ):
        image = scan_png(folder)
        burst = Burst()
        threads = [
            threading.Thread(
                target=rate_through_api,
                args=(app.url, image, [f"r{r}c{c}-{i}" for i in range(per_client)], burst),
            )
            for r, app in enumerate(apps)
            for c in range(clients)
        ]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=1800)
        elapsed = time.perf_counter() - start
    if burst.errors:
        raise SystemExit(f"{len(burst.errors)} errors, e.g. {burst.errors[0]}")
    return {
        "rate": len(burst.acknowledged) / elapsed,
        "p50": float(np.percentile(burst.save_ms, 50)),
        "p95": float(np.percentile(burst.save_ms, 95)),
        "n": len(burst.acknowledged),
    }


def postgres(args: argparse.Namespace) -> None:
    from tests.support.postgres import PostgresServer

    print()
    print(
        f"PostgreSQL 15, fsync on, {args.replicas} replicas x {args.clients} clients "
        "(target: p95 save < 50 ms)"
    )
    print(f"{'path':<44} {'ratings/s':>10} {'p50 ms':>8} {'p95 ms':>8}")
    with PostgresServer(fsync=True) as pg, tempfile.TemporaryDirectory() as tmp:
        store = postgres_store_rows(pg.new_url(), args.replicas, args.clients, args.per_writer)
        label = f"store.save, {args.replicas} processes x {args.clients} threads"
        print(f"{label:<44} {store['rate']:>10.0f} {store['p50']:>8.1f} {store['p95']:>8.1f}")
        api = postgres_api_rows(
            pg.new_url(), args.replicas, args.clients, args.api_ratings, Path(tmp)
        )
        label = f"API (/analyze + /save_feedback), {api['n']:.0f} rated"
        print(f"{label:<44} {api['rate']:>10.1f} {api['p50']:>8.1f} {api['p95']:>8.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", type=int, default=20)
    parser.add_argument("--per-writer", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--clients", type=int, default=20, help="per replica")
    parser.add_argument("--api-ratings", type=int, default=3, help="per API client")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_sqlite:
        print(
            f"SQLite: {args.writers} writers × {args.per_writer} ratings, median of {args.repeat}"
        )
        print(f"{'writers':<10} {'synchronous':<12} {'ratings/s':>10}")
        for kind in ("threads", "processes"):
            for sync in ("FULL", "NORMAL"):
                rates = [
                    run_once(kind, sync, args.writers, args.per_writer) for _ in range(args.repeat)
                ]
                print(f"{kind:<10} {sync:<12} {statistics.median(rates):>10.0f}")
    if not args.skip_postgres:
        postgres(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
