"""`PreparePool`: `prepare` in worker processes, real processes and real files throughout."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from medgemma_ui.imaging import ImageError, RenderOptions, prepare
from medgemma_ui.imaging.workers import PreparePool
from medgemma_ui.settings import ServerSettings, SettingsError
from tests.hardening.bombs import progressive_jpeg

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "medgemma_ui" / "templates" / "data" / "examples"
CT = str(EXAMPLES / "ct_head.dcm")


@pytest.fixture
def pool():
    pool = PreparePool(2)
    yield pool
    pool.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has exited all the same.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pids: list[int], timeout_s: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if _alive(pid)]
        if not alive:
            return []
        time.sleep(0.1)
    return [pid for pid in pids if _alive(pid)]


def test_workers_send_exactly_what_prepare_in_process_makes(pool):
    pids = {future.result(timeout=60) for future in pool.warm()}
    assert os.getpid() not in pids and len(pids) == 2
    for source, window in ((CT, None), (CT, "lung"), (get_testdata_file("RG1_UNCI.dcm"), None)):
        there = asyncio.run(pool.prepare(source, RenderOptions(window=window)))
        here = prepare(source, window=window)
        assert there.jpeg == here.jpeg
        assert there.info == here.info


def test_bytes_in_and_the_image_error_keeps_its_kind(pool):
    png = (EXAMPLES / "fundus_synthetic.png").read_bytes()
    assert asyncio.run(pool.prepare(png)).jpeg == prepare(png).jpeg
    with pytest.raises(ImageError) as caught:
        asyncio.run(pool.prepare(b"just some text, not an image"))
    assert caught.value.kind == "not_image"
    with pytest.raises(ImageError) as caught:
        asyncio.run(pool.prepare(CT, RenderOptions(frame=3)))
    assert caught.value.kind == "bad_request" and "Frame 3 does not exist" in str(caught.value)


def test_a_worker_killed_mid_request_fails_that_request_once_and_is_replaced(pool, caplog):
    """One job per worker: the job whose worker died is refused with a sentence, never run
    again (a hostile file would cost twice), and the next job gets a fresh worker."""
    pids = [future.result(timeout=60) for future in pool.warm()]
    slow = progressive_jpeg(7000, 240, "RGB")  # seconds of decoding: time to kill

    async def kill_during() -> None:
        task = asyncio.create_task(pool.prepare(slow))
        await asyncio.sleep(0.5)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        await task

    with pytest.raises(ImageError) as caught:
        asyncio.run(kill_during())
    assert caught.value.kind == "corrupt" and "stopped unexpectedly" in str(caught.value)
    assert caplog.text.count("an image worker died") == 1
    assert _wait_gone(pids) == []
    assert asyncio.run(pool.prepare(CT)).jpeg == prepare(CT).jpeg


def test_a_preparation_over_the_time_limit_is_stopped_with_a_sentence():
    pool = PreparePool(1, timeout_s=0.05)
    try:
        (pid,) = [future.result(timeout=60) for future in pool.warm()]
        with pytest.raises(ImageError) as caught:
            asyncio.run(pool.prepare(get_testdata_file("RG1_J2KR.dcm")))
        assert caught.value.kind == "too_large"
        assert "took longer than 0.05 s" in str(caught.value)
        assert "export a smaller or uncompressed copy" in str(caught.value)
        assert _wait_gone([pid]) == [], "the stuck worker must be killed, not left running"
        pool.timeout_s = 60
        assert asyncio.run(pool.prepare(CT)).jpeg == prepare(CT).jpeg  # a fresh pool serves
    finally:
        pool.close()


def test_workers_leave_when_the_server_is_killed(tmp_path):
    script = tmp_path / "server_stand_in.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys, time
            sys.path.insert(0, {str(ROOT)!r})
            from medgemma_ui.imaging.workers import PreparePool

            if __name__ == "__main__":
                pool = PreparePool(2)
                print(*[f.result(timeout=60) for f in pool.warm()], flush=True)
                time.sleep(60)
            """
        )
    )
    server = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(pid) for pid in server.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
        server.send_signal(signal.SIGKILL)  # no atexit, no pool shutdown
        server.wait(timeout=10)
        assert _wait_gone(pids) == []
    finally:
        server.kill()
        server.stdout.close()


def test_thread_mode_with_zero_workers():
    pool = PreparePool(0)
    assert pool.warm() == []
    assert asyncio.run(pool.prepare(CT)).jpeg == prepare(CT).jpeg


def test_worker_count_setting():
    assert ServerSettings.from_env({"MEDGEMMA_PREPARE_WORKERS": "0"}).prepare_workers == 0
    assert ServerSettings.from_env({"MEDGEMMA_PREPARE_WORKERS": "3"}).prepare_workers == 3
    assert 1 <= ServerSettings.from_env({}).prepare_workers <= 4
    with pytest.raises(SettingsError, match="MEDGEMMA_PREPARE_WORKERS"):
        ServerSettings.from_env({"MEDGEMMA_PREPARE_WORKERS": "many"})


def _worker_modules() -> list[str]:
    return sorted(sys.modules)


def test_a_gradio_upload_path_reaches_the_worker_as_a_plain_str(pool):
    """Gradio passes uploads as `NamedString` (a str subclass); pickled as such, the worker
    would import all of gradio to unpickle it."""
    from gradio.utils import NamedString

    [future.result(timeout=60) for future in pool.warm()]
    upload = NamedString(CT)
    assert asyncio.run(pool.prepare(upload)).jpeg == prepare(CT).jpeg
    for slot in pool._slots:
        loaded = slot.executor.submit(_worker_modules).result(timeout=60)
        assert not [name for name in loaded if name.split(".")[0] in {"gradio", "pandas"}]


def test_a_platform_without_worker_processes_prepares_in_threads(monkeypatch, caplog):
    """Some sandboxes lack a working sem_open or the forkserver start method. Nothing real here
    lacks them, so the platform's refusal is simulated at the one call that would raise it."""
    import multiprocessing

    def no_forkserver(method=None):
        raise ValueError(f"cannot find context for {method!r}")

    monkeypatch.setattr(multiprocessing, "get_context", no_forkserver)
    pool = PreparePool(2)
    assert pool.warm() == []
    assert pool.workers == 0
    assert asyncio.run(pool.prepare(CT)).jpeg == prepare(CT).jpeg
    assert "prepared in threads" in caplog.text


def test_usable_cpus_honours_a_container_quota(tmp_path):
    from medgemma_ui.settings import usable_cpus

    affinity = len(os.sched_getaffinity(0))
    quota = tmp_path / "cpu.max"
    quota.write_text("max 100000\n")
    assert usable_cpus(quota) == affinity
    quota.write_text("150000 100000\n")  # docker run --cpus 1.5
    assert usable_cpus(quota) == min(affinity, 2)
    quota.write_text("50000 100000\n")
    assert usable_cpus(quota) == 1
    assert usable_cpus(tmp_path / "absent") == affinity
