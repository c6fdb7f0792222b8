"""N simultaneous users through gradio_client against a loopback model with a fixed 2 s latency.

Each user uploads its own copy of the image (different bytes) with the Analyze call, so every
request decodes and prepares it; the last row repeats 16 users with images the app has prepared
before, which is what Analyze meets in the UI, where the preview prepared the file on upload.

Three processes, as in production: the loopback model server, the app (`python app.py`), and the
clients (this script). Prints, for 1, 4 and 16 users: wall time against the backend's 2 s, the time
from the backend sending its first token to the client seeing it, and the app's overhead per
request; then app start time (`python app.py` until the page answers) and its idle RSS.

Run: .venv/bin/python benchmarks/concurrency.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import psutil  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402

from tests.support.model_server import free_port  # noqa: E402

# 1.5 s to the first token, then ~50 tokens 10 ms apart: about 2 s per request at the backend.
FIRST_TOKEN_S, TOKEN_S = 1.5, 0.01
BACKEND_LATENCY_S = 2.0
EXAMPLE_CT = ROOT / "medgemma_ui" / "templates" / "data" / "examples" / "ct_head.dcm"
IMAGE = Path(os.environ.get("BENCH_IMAGE", EXAMPLE_CT))
USERS = (1, 4, 16)
CLIENT_NICENESS = int(os.environ.get("BENCH_CLIENT_NICENESS", "10"))
USER_FILES: list[Path] = []


def wait_for(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s")


@contextmanager
def process(args: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def distinct_copies(folder: Path, count: int) -> list[Path]:
    """One file per user with different bytes, so the app's per-upload cache never serves one
    user's preparation to another: every request decodes its own image."""
    suffix = IMAGE.suffix
    data = IMAGE.read_bytes()
    paths = []
    for i in range(count):
        path = folder / f"user{i}{suffix}"
        if suffix == ".dcm":
            import pydicom

            ds = pydicom.dcmread(IMAGE)
            ds.SeriesDescription = f"benchmark user {i}"
            ds.save_as(path)
        else:
            path.write_bytes(data + b"\0" * (i + 1))  # trailing bytes after the image end
        paths.append(path)
    return paths


def total_pss(pid: int) -> float:
    """MB of proportional set size of the app and its children (forkserver, image workers):
    forked workers share their imported libraries, which RSS would count once per process."""
    root = psutil.Process(pid)
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        with suppress(psutil.Error):
            total += proc.memory_full_info().pss
    return total / 2**20


def one_user(client: Client, user: int, results: dict[int, dict[str, float]]) -> None:
    from medgemma_ui.templates import get_template

    prompt = f"[user {user}] " + get_template("cxr").build_prompt()
    start = time.time()
    job = client.submit(
        handle_file(str(USER_FILES[user])),
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
    # Poll every 5 ms rather than iterate the job: gradio_client's iterator wakes every 1 ms per
    # job, and 16 of those spinning on this 2-core box took CPU from the app being measured.
    first_seen = 0.0
    while not job.done():
        if not first_seen and any(isinstance(o[0], str) and o[0] for o in job.outputs()):
            first_seen = time.time()
        time.sleep(0.005)
    job.result()
    results[user] = {"start": start, "end": time.time(), "first_seen": first_seen}


def records(model_port: int) -> list[dict]:
    with urllib.request.urlopen(f"http://127.0.0.1:{model_port}/_records", timeout=5) as response:
        return json.loads(response.read())


def run_users(
    client: Client, model_port: int, users: int, app: psutil.Process | None = None
) -> dict[str, float]:
    already = len(records(model_port))
    cpu_before = sum(app.cpu_times()[:2]) if app else 0.0
    results: dict[int, dict[str, float]] = {}
    threads = [threading.Thread(target=one_user, args=(client, u, results)) for u in range(users)]
    start = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    wall = time.time() - start
    cpu_ms = (sum(app.cpu_times()[:2]) - cpu_before) * 1000 / users if app else 0.0
    lags, overheads = [], []
    for record in records(model_port)[already:]:
        user = int(record["prompt"].split("]")[0].removeprefix("[user "))
        seen = results[user]
        lags.append((seen["first_seen"] - record["first_token_sent_at"]) * 1000)
        overheads.append((seen["end"] - seen["start"] - BACKEND_LATENCY_S) * 1000)
    return {
        "users": users,
        "wall_s": wall,
        "ratio": wall / BACKEND_LATENCY_S,
        "lag_ms": statistics.median(lags),
        "lag_max_ms": max(lags),
        "overhead_ms": statistics.median(overheads),
        "app_cpu_ms": cpu_ms,
    }


def main() -> None:
    model_port, app_port = free_port(), free_port()
    env = {**os.environ, "HF_HUB_DISABLE_TELEMETRY": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    model_args = [sys.executable, "-m", "tests.support.model_server", str(model_port),
                  str(FIRST_TOKEN_S), str(TOKEN_S)]  # fmt: skip
    with TemporaryDirectory() as tmp, process(model_args, env):
        USER_FILES.extend(distinct_copies(Path(tmp), max(USERS)))
        wait_for(f"http://127.0.0.1:{model_port}/health")
        app_env = {
            **env,
            "MEDGEMMA_PORT": str(app_port),
            "MEDGEMMA_LOG_LEVEL": "WARNING",
            "MEDGEMMA_OPENAI_BASE_URL": f"http://127.0.0.1:{model_port}/v1",
            "MEDGEMMA_OPENAI_MODEL": "medgemma-test",
            "MEDGEMMA_FEEDBACK_DB": str(Path(tmp) / "feedback.sqlite3"),
        }
        started = time.perf_counter()
        with process([sys.executable, "app.py"], app_env) as app:
            wait_for(f"http://127.0.0.1:{app_port}/")
            start_s = time.perf_counter() - started
            time.sleep(3)  # the image workers start once the page answers
            # The sixteen clients stand in for browsers on other machines; here they share the
            # app's two cores. Lower their priority (not the app's or the model server's) so the
            # measurement is of the app rather than of gradio_client's own CPU use.
            os.nice(CLIENT_NICENESS)
            idle_rss = psutil.Process(app.pid).memory_info().rss / 2**20
            idle_total = total_pss(app.pid)
            # Plain HTTP on loopback: ssl_verify=False only spares each of the client's httpx calls
            # loading the CA bundle (~20 ms of CPU apiece, twice per request).
            client = Client(
                f"http://127.0.0.1:{app_port}/",
                verbose=False,
                analytics_enabled=False,
                ssl_verify=False,
            )
            run_users(client, model_port, 2)  # warm-up
            app_process = psutil.Process(app.pid)
            rows = [run_users(client, model_port, n, app_process) for n in USERS]
            # Again, now that every user's image has been prepared once, as the preview does in
            # the UI when the file is dropped (the upload still travels again with the call).
            again = run_users(client, model_port, max(USERS), app_process)
            rows.append({**again, "users": f"{again['users']}, image prepared before"})
            busy_rss = psutil.Process(app.pid).memory_info().rss / 2**20
            busy_total = total_pss(app.pid)
    print(f"load average before: {os.getloadavg()[0]:.2f}; clients at niceness {CLIENT_NICENESS}")
    print("| users | wall (s) | wall / 2 s | first token lag, median (ms) | max (ms) "
          "| app overhead per request, median (ms) | app CPU per request (ms) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['users']} | {r['wall_s']:.2f} | {r['ratio']:.2f}× | {r['lag_ms']:.0f} "
            f"| {r['lag_max_ms']:.0f} | {r['overhead_ms']:.0f} | {r['app_cpu_ms']:.0f} |"
        )
    print(
        f"\napp start (python app.py until the page answers): {start_s:.2f} s; "
        f"idle RSS {idle_rss:.0f} MB; after the runs {busy_rss:.0f} MB\n"
        f"with the image worker processes (PSS, shared pages counted once): idle "
        f"{idle_total:.0f} MB; after the runs {busy_total:.0f} MB"
    )


if __name__ == "__main__":
    main()
