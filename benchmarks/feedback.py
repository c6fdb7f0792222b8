"""Feedback store write throughput: 20 writers × 50 ratings, threads vs processes, FULL vs NORMAL.

    .venv/bin/python benchmarks/feedback.py [--writers 20] [--per-writer 50] [--repeat 3]

Each writer saves fully populated records (as the UI will) into one fresh SQLite file in WAL mode;
the clock starts when every writer is ready (a barrier) and stops when the last commit returns.
Prints the median of --repeat runs.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", type=int, default=20)
    parser.add_argument("--per-writer", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{args.writers} writers × {args.per_writer} ratings, median of {args.repeat} runs")
    print(f"{'writers':<10} {'synchronous':<12} {'ratings/s':>10}")
    for kind in ("threads", "processes"):
        for sync in ("FULL", "NORMAL"):
            rates = [
                run_once(kind, sync, args.writers, args.per_writer) for _ in range(args.repeat)
            ]
            print(f"{kind:<10} {sync:<12} {statistics.median(rates):>10.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
