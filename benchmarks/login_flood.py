"""A signed-in user's request latency while 8 clients flood the login (issue 13).

The app runs as in production (`python app.py`, its own process) with a password login. One
signed-in user sends a small authenticated request again and again (`GET
/gradio_api/login_check`, answered after the server has looked the session up: the floor under
every request) and the script reports p50 and p90 of its latency, in three situations:

- idle: nobody else;
- 8 flooders, one address each: 8 clients post wrong passwords as fast as the server answers,
  each from its own loopback address (127.0.0.2-9), each attempt under a new user name;
- 8 flooders, rotating addresses: the same, but each flooder moves to a fresh loopback address
  every 4 attempts, as a flood from many machines would, so no backoff ever applies and every
  attempt costs a password hash.

`--app-dir DIR` runs another checkout of the app, for the figures before issue 13's changes:
`git archive f787ad7 | tar -x -C /tmp/before` then `--app-dir /tmp/before`.

Clients run at niceness 10 (`BENCH_CLIENT_NICENESS`), standing in for browsers on other machines.

Run: .venv/bin/python benchmarks/login_flood.py [--seconds 10] [--app-dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import httpx  # noqa: E402

from medgemma_ui.passwords import hash_password  # noqa: E402
from tests.support.model_server import free_port  # noqa: E402

FLOODERS = 8
PASSWORD = "a-long-enough-password"
CLIENT_NICENESS = int(os.environ.get("BENCH_CLIENT_NICENESS", "10"))


def wait_for(url: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code in (200, 401):
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s")


def flood(url: str, rotate: bool, stop: multiprocessing.synchronize.Event, counts) -> None:
    """8 threads posting wrong passwords until `stop`; `counts[i]` = attempts of thread i."""
    addresses = (f"127.0.{a}.{b}" for a in range(1, 255) for b in range(2, 255))

    def one(index: int) -> None:
        address = f"127.0.0.{index + 2}"
        client = None
        for attempt in itertools.count():
            if stop.is_set():
                break
            if client is None or (rotate and attempt % 4 == 0):
                if client is not None:
                    client.close()
                if rotate:
                    address = next(addresses)
                transport = httpx.HTTPTransport(local_address=address)
                client = httpx.Client(base_url=url, transport=transport, timeout=60)
            with contextlib.suppress(httpx.HTTPError):
                client.post("/login", data={"username": f"x{index}-{attempt}", "password": "no"})
            counts[index] += 1
        if client is not None:
            client.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(FLOODERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def measure(url: str, seconds: float, flooding: str | None) -> dict[str, float]:
    user = httpx.Client(base_url=url, timeout=60)
    assert user.post("/login", data={"username": "alice", "password": PASSWORD}).status_code == 200
    stop = multiprocessing.Event()
    counts = multiprocessing.Array("i", FLOODERS)
    flooder = None
    if flooding:
        flooder = multiprocessing.Process(
            target=flood, args=(url, flooding == "rotating", stop, counts)
        )
        flooder.start()
        time.sleep(2.0)  # the flood is under way (and any backoff has set in)
    latencies = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.perf_counter()
        response = user.get("/gradio_api/login_check")
        latencies.append(time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
        time.sleep(0.02)
    stop.set()
    if flooder is not None:
        flooder.join(timeout=120)
    user.close()
    cuts = statistics.quantiles(latencies, n=10)
    return {
        "p50_ms": statistics.median(latencies) * 1e3,
        "p90_ms": cuts[8] * 1e3,
        "requests": len(latencies),
        "login_attempts_per_s": sum(counts) / (seconds + 2.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--app-dir", type=Path, default=ROOT)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "MEDGEMMA_PORT": str(port),
            "MEDGEMMA_AUTH_USERS": f"alice:{hash_password(PASSWORD)}",
            "MEDGEMMA_FEEDBACK_DB": str(Path(tmp) / "feedback.sqlite3"),
            "MEDGEMMA_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(args.app_dir),
        }
        app = subprocess.Popen(
            [sys.executable, str(args.app_dir / "app.py")],
            cwd=tmp,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.nice(CLIENT_NICENESS)  # the clients (this process and the flooders it forks) only
        try:
            wait_for(url + "/config")
            print(f"app: {args.app_dir} ({'this checkout' if args.app_dir == ROOT else 'other'})")
            print("| flood | p50 (ms) | p90 (ms) | requests | login attempts/s |")
            print("|---|---|---|---|---|")
            for label, flooding in (
                ("none", None),
                ("8 clients, one address each", "fixed"),
                ("8 clients, rotating addresses", "rotating"),
            ):
                row = measure(url, args.seconds, flooding)
                print(
                    f"| {label} | {row['p50_ms']:.1f} | {row['p90_ms']:.1f} | "
                    f"{row['requests']} | {row['login_attempts_per_s']:.0f} |",
                    flush=True,
                )
        finally:
            app.terminate()
            app.wait(timeout=30)


if __name__ == "__main__":
    main()
