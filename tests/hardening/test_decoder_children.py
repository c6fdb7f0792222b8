"""Processes die with the server (issue 13): the real server (`python -m medgemma_ui serve`)
decodes a JPEG-LS and a JPEG Lossless DICOM, whose decoders run in a child process of their own
(docs/dicom.md §6), then is killed with SIGKILL: every process it started (the forkserver, the
image workers, the decoder children) is gone within seconds, none left with parent PID 1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from pydicom.data import get_testdata_file

from tests.support.gradio_http import Page
from tests.support.model_server import free_port

ROOT = Path(__file__).resolve().parents[2]
DECODED_IN_A_CHILD = ("MR_small_jpeg_ls_lossless.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm")


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    left = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                left.append(process)
        except psutil.NoSuchProcess:
            continue
    return left


def _wait_gone(processes: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout_s
    while (left := _alive(processes)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def _serve(tmp_path: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "MEDGEMMA_PORT": str(port),
        "MEDGEMMA_PREPARE_WORKERS": str(workers),
        "MEDGEMMA_FEEDBACK_DB": str(tmp_path / "f.sqlite3"),
        "PYTHONPATH": str(ROOT),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "medgemma_ui", "serve"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/config", timeout=2).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.kill()
    raise AssertionError("the server did not start")


@pytest.mark.parametrize("workers", [2, 0], ids=["image-workers", "in-the-server"])
def test_decoder_children_die_with_a_server_killed_by_sigkill(tmp_path, workers):
    server, url = _serve(tmp_path, workers)
    try:
        page = Page(url)
        for name in DECODED_IN_A_CHILD:
            data = Path(get_testdata_file(name)).read_bytes()
            shown = page.run("upload", "change", [page.file_data(data, "scan.dcm"), None])
            assert shown.success and shown.data[0] is not None, name
        started = psutil.Process(server.pid).children(recursive=True)
        decoders = [p for p in started if "multiprocessing.spawn" in " ".join(p.cmdline())]
        assert decoders, [p.cmdline() for p in started]
        server.send_signal(signal.SIGKILL)  # no atexit, no pool shutdown, no signal handler
        server.wait(timeout=10)
        left = _wait_gone(started, timeout_s=15)
        assert not left, [(p.pid, p.cmdline()[:3]) for p in left]
    finally:
        server.kill()
        server.wait(timeout=10)


def test_a_worker_killed_over_its_time_limit_takes_its_decoder_child_along(tmp_path):
    """The pool kills a worker that overran (here, from outside, with the same SIGKILL): the
    decoder child it started dies at once with it, not left to the init process."""
    import asyncio

    from medgemma_ui.imaging.workers import PreparePool

    pool = PreparePool(1)
    try:
        (pid,) = [future.result(timeout=60) for future in pool.warm()]
        asyncio.run(pool.prepare(get_testdata_file(DECODED_IN_A_CHILD[0])))
        children = psutil.Process(pid).children()
        assert children, "the JPEG-LS decoder runs in a child of the worker"
        os.kill(pid, signal.SIGKILL)
        assert not _wait_gone(children, timeout_s=5)
    finally:
        pool.close()
