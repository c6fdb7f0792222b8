"""The app's own CPU for one /analyze: what a replica spends besides the model.

    .venv/bin/python benchmarks/analyze_cpu.py [--runs 30] [--warm 3]

One app process (`python -m medgemma_ui serve`, SQLite feedback, two image workers) against a
loopback model server that answers at once, and one gradio_client calling /analyze `--runs` times
in turn (after `--warm` calls not counted), in two rounds: the same chest radiograph every time (the
prepared image is reused: a clinician trying another template or prompt), then a different image
every time (each a copy of the radiograph as a PNG with one pixel changed: a new upload). The CPU
time of the app process and of its image workers is read from /proc (psutil) before and after;
the client's and the model server's own CPU are not counted. Prints milliseconds of CPU per
analysis (the app process, its workers, both) and the median wall time per analysis.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cpu_seconds(process: psutil.Process) -> tuple[float, float]:
    """(the process's own user+system CPU, its children's, alive now), in seconds."""
    own = process.cpu_times()
    children = 0.0
    for child in process.children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        children += times.user + times.system
    return own.user + own.system, children


def variants(folder: Path, count: int) -> list[Path]:
    """`count` different PNGs of the example chest radiograph (one pixel changed in each)."""
    from medgemma_ui.imaging import prepare

    chest = prepare(ROOT / "medgemma_ui/templates/data/examples/chest_xray_pa.dcm").image
    paths = []
    for n in range(count):
        image = chest.copy()
        image.putpixel((n % 896, n // 896), (n % 256, 0, 0))
        paths.append(folder / f"variant-{n}.png")
        image.save(paths[-1])
    return paths


def measure(app_url: str, pid: int, images: list[Path], warm: int) -> tuple[float, float, float]:
    """(app process CPU, workers' CPU, median wall) per analysis, in ms, after `warm` calls."""
    from gradio_client import Client, handle_file

    client = Client(app_url, verbose=False, analytics_enabled=False, download_files=False)
    for path in images[:warm]:
        client.predict(handle_file(str(path)), template="cxr", api_name="/analyze")
    server = psutil.Process(pid)
    own_before, workers_before = cpu_seconds(server)
    walls = []
    for path in images[warm:]:
        start = time.perf_counter()
        client.predict(handle_file(str(path)), template="cxr", api_name="/analyze")
        walls.append(time.perf_counter() - start)
    own_after, workers_after = cpu_seconds(server)
    runs = len(images) - warm
    return (
        (own_after - own_before) / runs * 1000,
        (workers_after - workers_before) / runs * 1000,
        statistics.median(walls) * 1000,
    )


def main(argv: list[str] | None = None) -> int:
    from tests.support.model_server import ModelServer, Script
    from tests.support.replicas import replica_env, replicas

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warm", type=int, default=3)
    args = parser.parse_args(argv)

    total = args.warm + args.runs
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = str(folder / "feedback.sqlite3")
        distinct = variants(folder, total)
        rounds = {"same image": [distinct[0]] * total, "a new image each time": distinct}
        rows = {}
        with ModelServer(Script()) as model:
            env = replica_env(db, model, MEDGEMMA_PREPARE_WORKERS="2")
            with replicas(1, env, folder) as apps:
                (app,) = apps
                for name, images in rounds.items():
                    rows[name] = measure(app.url, app.process.pid, images, args.warm)
    print(f"/analyze x {args.runs} in turn (after {args.warm} not counted), one app process")
    print(f"{'round':<24}{'app CPU ms':>12}{'workers ms':>12}{'both ms':>10}{'wall ms':>10}")
    for name, (own, workers, wall) in rows.items():
        print(f"{name:<24}{own:12.1f}{workers:12.1f}{own + workers:10.1f}{wall:10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
