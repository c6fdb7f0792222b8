"""App replicas as separate processes (`python -m medgemma_ui serve`) sharing one feedback store,
and clients that rate through the real API (gradio_client: /analyze, then /save_feedback).

Used by tests/feedback/test_replicas.py and benchmarks/feedback.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from tests.support.model_server import ModelServer, free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Replica:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no shutdown of any kind
        self.process.wait(timeout=30)


def replica_env(db: str, model: ModelServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDGEMMA_", "GRADIO_SERVER"))}
    env.update(
        PYTHONPATH=str(ROOT),
        GRADIO_ANALYTICS_ENABLED="False",
        HF_HUB_DISABLE_TELEMETRY="1",
        MEDGEMMA_FEEDBACK_DB=db,
        MEDGEMMA_OPENAI_BASE_URL=model.base_url,
        MEDGEMMA_OPENAI_MODEL=model.script.model,
        MEDGEMMA_DEFAULT_BACKEND="openai",
        MEDGEMMA_PREPARE_WORKERS="0",
        MEDGEMMA_LOG_LEVEL="WARNING",
        MEDGEMMA_HEALTH_TTL_S="0",
    )
    env.update(extra)
    return env


@contextmanager
def replicas(
    count: int, env: Mapping[str, str], folder: Path, *, ready_timeout_s: float = 120
) -> Iterator[list[Replica]]:
    """`count` app processes, each on its own loopback port, all answering before this yields;
    every one still running is stopped afterwards. Run in `folder` so no ./.env is read."""
    started: list[Replica] = []
    try:
        for n in range(count):
            port = free_port()
            log = folder / f"replica-{n}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "medgemma_ui", "serve", "--port", str(port)],
                    cwd=folder,
                    env=dict(env),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            started.append(Replica(f"http://127.0.0.1:{port}/", process, log))
        deadline = time.monotonic() + ready_timeout_s
        for replica in started:
            while True:
                if replica.process.poll() is not None:
                    raise RuntimeError(f"a replica exited: {replica.log.read_text()[-2000:]}")
                try:
                    if httpx.get(replica.url, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"a replica did not answer: {replica.log.read_text()[-2000:]}"
                    )
                time.sleep(0.2)
        yield started
    finally:
        for replica in started:
            if replica.process.poll() is None:
                replica.process.terminate()
        for replica in started:
            try:
                replica.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                replica.process.kill()
                replica.process.wait(timeout=30)


def scan_png(folder: Path) -> Path:
    """A small, smooth image: the app sends the 896 x 896 preview back as PNG twice per analysis,
    and zlib is quickest on flat areas (noise made PNG encoding 70% of the app's CPU per
    analysis)."""
    path = folder / "scan.png"
    pixels = np.zeros((64, 64), dtype=np.uint8)
    pixels[24:40, 20:44] = 200  # a bright block on black: quick to encode as PNG
    Image.fromarray(pixels).save(path)
    return path


@dataclass
class Burst:
    """What the clients of one replica saw: each acknowledged rating's comment, the save
    round-trip times, and the errors (a killed replica's clients get some)."""

    acknowledged: list[str] = field(default_factory=list)
    save_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def rate_through_api(
    url: str,
    image: Path,
    comments: list[str],
    burst: Burst,
    *,
    stop: threading.Event | None = None,
    on_ack: Callable[[str], None] | None = None,
) -> None:
    """One clinician: for each comment, analyses the image and saves a rating carrying that
    comment. Only ratings whose save call returned are counted as acknowledged."""
    from gradio_client import Client, handle_file

    try:
        client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
    except Exception as exc:
        with burst.lock:
            burst.errors.append(f"connect: {type(exc).__name__}: {exc}")
        return
    for n, comment in enumerate(comments):
        if stop is not None and stop.is_set():
            return
        try:
            # One session analyses and rates in turn: each analysis gets its own rating
            # (tests/ui/test_rating_per_result.py).
            client.predict(handle_file(str(image)), template="cxr", api_name="/analyze")
            started = time.perf_counter()
            message, _ = client.predict(
                overall=("agree", "partly_agree", "disagree")[n % 3],
                comment=comment,
                reviewer=f"Dr {comment.split('-')[0]}",
                api_name="/save_feedback",
            )
            elapsed = (time.perf_counter() - started) * 1000
        except Exception as exc:
            with burst.lock:
                burst.errors.append(f"{type(exc).__name__}: {exc}")
            if stop is not None and stop.is_set():
                return
            continue
        if "saved" not in str(message):
            with burst.lock:
                burst.errors.append(f"unexpected answer: {message}")
            continue
        with burst.lock:
            burst.acknowledged.append(comment)
            burst.save_ms.append(elapsed)
        if on_ack is not None:
            on_ack(comment)
