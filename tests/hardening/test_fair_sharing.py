"""Fair sharing of the image workers (issue 13): while one user sends three slow bombs, another
user's small PNG preview stays under 2 s.

The "slow bombs" are the slowest files the limits let through (a flat 49-megapixel colour
progressive JPEG with 240 scans, a few hundred KB that take seconds to decode), since the bombs
that used to run for minutes are now refused in a fraction of a second (test_bombs.py). Two
workers, as on a 2-core machine: the bomber holds one of them at most, whatever they send.
Timings are medians, and the limit is the issue's (2 s); a small PNG takes about 0.1 s.
"""

from __future__ import annotations

import asyncio
import io
import statistics
import threading
import time
from dataclasses import replace

import numpy as np
from PIL import Image

from medgemma_ui.imaging.workers import PreparePool
from medgemma_ui.passwords import hash_password
from tests.hardening.bombs import progressive_jpeg
from tests.support.app_runner import running_app, settings_for
from tests.support.gradio_http import Page
from tests.support.model_server import ModelServer

LIMIT_S = 2.0


def small_png(value: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((128, 128), value, np.uint8)).save(out, "PNG")
    return out.getvalue()


def slow_bombs() -> list[bytes]:
    return [progressive_jpeg(size, 240, "RGB") for size in (7000, 6900, 6800)]


def test_in_the_pool_one_owner_never_holds_every_worker():
    bombs = slow_bombs()
    pool = PreparePool(2)
    try:
        [future.result(timeout=60) for future in pool.warm()]

        async def scenario() -> tuple[list[float], list[float]]:
            started = time.perf_counter()
            bombing = [asyncio.create_task(pool.prepare(b, owner="session:bomber")) for b in bombs]
            await asyncio.sleep(0.3)  # the bombs have the workers they may have
            latencies = []
            for value in range(5):
                start = time.perf_counter()
                await pool.prepare(small_png(value), owner="session:viewer")
                latencies.append(time.perf_counter() - start)
            viewer_done = time.perf_counter() - started
            await asyncio.gather(*bombing)
            return latencies, [viewer_done, time.perf_counter() - started]

        latencies, (viewer_done, bombs_done) = asyncio.run(scenario())
    finally:
        pool.close()
    print(
        f"pool: viewer previews {[round(t, 2) for t in latencies]} s, bombs done {bombs_done:.1f} s"
    )
    assert statistics.median(latencies) < LIMIT_S
    assert viewer_done < bombs_done  # the bombs were still being prepared meanwhile


def test_another_users_preview_stays_under_two_seconds_during_three_slow_bombs(tmp_path):
    users = {"bomber": "pw-bomber-1", "viewer": "pw-viewer-1"}
    spec = ",".join(f"{u}:{hash_password(p)}" for u, p in users.items())
    bombs = slow_bombs()
    with ModelServer() as model:
        settings = settings_for(model, tmp_path)
        server = replace(settings.server, auth_users=spec, prepare_workers=2)
        with running_app(settings.with_changes(server=server)) as url:
            viewer = Page(url)
            assert viewer.login("viewer", users["viewer"]).status_code == 200
            warm = viewer.run("upload", "change", [viewer.file_data(small_png(200)), None])
            assert warm.success and warm.data[0] is not None  # workers started

            # One user, three tabs (three sessions, one login): a bomb each, all at once.
            tabs = []
            for _ in bombs:
                tab = Page(url)
                assert tab.login("bomber", users["bomber"]).status_code == 200
                tabs.append(tab)
            files = [tab.file_data(bomb, "bomb.jpg") for tab, bomb in zip(tabs, bombs, strict=True)]
            finished: list[float] = []
            start = time.perf_counter()

            def bomb(tab: Page, data: dict) -> None:
                assert tab.run("upload", "change", [data, None]).success
                finished.append(time.perf_counter() - start)

            threads = [
                threading.Thread(target=bomb, args=pair) for pair in zip(tabs, files, strict=True)
            ]
            for thread in threads:
                thread.start()
            time.sleep(0.5)
            latencies = []
            for value in range(5):
                data = viewer.file_data(small_png(value))
                begin = time.perf_counter()
                shown = viewer.run("upload", "change", [data, None])
                latencies.append(time.perf_counter() - begin)
                assert shown.success and shown.data[0] is not None
            viewer_done = time.perf_counter() - start
            for thread in threads:
                thread.join(timeout=120)
    done = sorted(round(t, 1) for t in finished)
    print(
        f"app: viewer previews {[round(t, 2) for t in latencies]} s (median "
        f"{statistics.median(latencies):.2f}), bombs finished at {done} s"
    )
    assert statistics.median(latencies) < LIMIT_S
    assert len(finished) == 3 and viewer_done < max(finished)  # the bombs overlapped the previews
