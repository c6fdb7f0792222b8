"""N simultaneous users through gradio_client against a loopback model with a fixed 2 s latency.

Prints, for 1, 4 and 16 users: wall time against the backend's 2 s, the time from the backend
sending its first token to the client seeing it, and the app's overhead per request. Then app start
time (`python app.py` until the page answers) and idle RSS of that process.

Run: .venv/bin/python benchmarks/concurrency.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import psutil  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402

from tests.support.app_runner import running_app, settings_for  # noqa: E402
from tests.support.model_server import ModelServer, Script, free_port  # noqa: E402

# 1.5 s to the first token, then 50 tokens 10 ms apart: about 2 s per request at the backend.
SCRIPT = Script(first_token_delay_s=1.5, token_delay_s=0.01, token_size=4)
BACKEND_LATENCY_S = 2.0
IMAGE = ROOT / "assets" / "examples" / "ct_head.dcm"


def one_user(client: Client, user: int, results: dict[int, dict[str, float]]) -> None:
    from medgemma_ui.templates import get_template

    prompt = f"[user {user}] " + get_template("cxr").build_prompt()
    start = time.time()
    job = client.submit(
        handle_file(str(IMAGE)),
        None,
        0,
        "openai",
        "cxr",
        prompt,
        512,
        0.0,
        True,
        0,
        api_name="/analyze",
    )
    first_seen = None
    for update in job:
        if first_seen is None and isinstance(update[0], str) and update[0]:
            first_seen = time.time()
    job.result()
    results[user] = {"start": start, "end": time.time(), "first_seen": first_seen or 0.0}


def run_users(client: Client, server: ModelServer, users: int) -> dict[str, float]:
    server.requests.clear()
    results: dict[int, dict[str, float]] = {}
    threads = [threading.Thread(target=one_user, args=(client, u, results)) for u in range(users)]
    start = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    wall = time.time() - start
    first_token_lags, overheads = [], []
    for request in server.requests:
        text = request.body["messages"][0]["content"][1]["text"]
        user = int(text.split("]")[0].removeprefix("[user "))
        seen = results[user]
        if request.first_token_sent_at:
            first_token_lags.append((seen["first_seen"] - request.first_token_sent_at) * 1000)
        overheads.append((seen["end"] - seen["start"] - BACKEND_LATENCY_S) * 1000)
    return {
        "users": users,
        "wall_s": wall,
        "ratio": wall / BACKEND_LATENCY_S,
        "first_token_lag_ms": statistics.median(first_token_lags),
        "first_token_lag_max_ms": max(first_token_lags),
        "overhead_ms": statistics.median(overheads),
    }


def app_start_and_rss() -> tuple[float, float]:
    port = free_port()
    env = {**os.environ, "MEDGEMMA_PORT": str(port), "MEDGEMMA_LOG_LEVEL": "WARNING"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("app did not answer within 60 s")
        started = time.perf_counter() - start
        time.sleep(2)
        rss = psutil.Process(proc.pid).memory_info().rss / 2**20
        return started, rss
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main() -> None:
    rows = []
    with ModelServer(SCRIPT) as server, tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(server, Path(tmp))
        with running_app(settings) as url:
            client = Client(url, verbose=False, analytics_enabled=False)
            run_users(client, server, 1)  # warm-up
            for users in (1, 4, 16):
                rows.append(run_users(client, server, users))
    print(
        "| users | wall (s) | wall / 2 s | first token lag, median (ms) | max (ms) "
        "| app overhead per request, median (ms) |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['users']} | {r['wall_s']:.2f} | {r['ratio']:.2f}× "
            f"| {r['first_token_lag_ms']:.0f} | {r['first_token_lag_max_ms']:.0f} "
            f"| {r['overhead_ms']:.0f} |"
        )
    started, rss = app_start_and_rss()
    print(
        f"\napp start (python app.py until the page answers): {started:.2f} s; "
        f"idle RSS {rss:.0f} MB"
    )


if __name__ == "__main__":
    main()
