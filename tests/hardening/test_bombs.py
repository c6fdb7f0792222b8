"""Decompression bombs (issue 13), built on the fly by `bombs.py` in several sizes, each prepared
the way the server prepares uploads (a `PreparePool` worker process): refused with one sentence
in under 5 s, the worker's peak memory under 1 GB, and never run twice."""

from __future__ import annotations

import asyncio
import io
import re
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import Image

from medgemma_ui.imaging import ImageError
from medgemma_ui.imaging.workers import PreparePool
from tests.hardening.bombs import deflated_dicom, j2k_dicom, progressive_jpeg

GB = 1024**3
SECONDS = 5.0

BOMBS = {
    # A 64×64 image whose deflated dataset inflates to 300 MB, 2 GB or 4 GB.
    "deflated-300MB": lambda: deflated_dicom(300 << 20),
    "deflated-2GB": lambda: deflated_dicom(2 << 30),
    "deflated-4GB": lambda: deflated_dicom((4 << 30) - 16),
    # A 64×64 header over a SIZ of 60000² or 20000² (single tile, or 1024 px tiles).
    "j2k-siz-60000": lambda: j2k_dicom(60000),
    "j2k-siz-20000-tiled": lambda: j2k_dicom(20000, tile=1024),
    # Header and SIZ agree on 7000², in 190,000 tiles of 16 px.
    "j2k-tiles": lambda: j2k_dicom(7000, tile=16, header=7000),
    # Progressive JPEGs of 1-4 MB under the pixel limit, with 20,000 to 250,000 scans.
    "progressive-grey-250k-scans": lambda: progressive_jpeg(2000, 250_000),
    "progressive-rgb-20k-scans": lambda: progressive_jpeg(4000, 20_000, "RGB"),
    "progressive-one-over-the-limit": lambda: progressive_jpeg(7000, 257, "RGB"),
}


def one_sentence(text: str) -> bool:
    return (
        bool(text)
        and "\n" not in text
        and text.endswith(".")
        and not re.search(r"[.;:]\s*\.|\.\s+[A-Z]", text)
    )


def _peak_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.fixture
def pool():
    pool = PreparePool(1)
    yield pool
    pool.close()


@pytest.mark.parametrize("name", BOMBS)
def test_a_bomb_is_refused_quickly_in_little_memory_and_once(name, pool, caplog):
    data = BOMBS[name]()
    assert len(data) < 5 * 1024 * 1024
    (pid,) = [future.result(timeout=60) for future in pool.warm()]
    start = time.perf_counter()
    with pytest.raises(ImageError) as caught:
        asyncio.run(pool.prepare(data, owner="session:bomber"))
    elapsed = time.perf_counter() - start
    message = str(caught.value)
    peak = _peak_bytes(pid) / 2**20
    print(f"{name}: {len(data) / 1e6:.2f} MB, refused in {elapsed:.2f} s, peak {peak:.0f} MB")
    assert elapsed < SECONDS
    assert caught.value.kind in {"too_large", "corrupt"}
    assert one_sentence(message), message
    # The worker that prepared it is the same process (not killed, not replaced, nothing
    # re-run) and never held 1 GB.
    assert psutil.pid_exists(pid)
    assert _peak_bytes(pid) < GB, f"{_peak_bytes(pid) / 2**20:.0f} MB"
    assert "worker" not in caplog.text


def _forkserver_children() -> list[psutil.Process]:
    """The image workers: grandchildren of this process through the forkserver."""
    return [
        p
        for child in psutil.Process().children()
        for p in child.children()
        if p.status() != psutil.STATUS_ZOMBIE
    ]


def test_a_preparation_over_the_time_limit_is_stopped_and_not_run_again(caplog):
    """A file within every limit but slow (a 49-megapixel colour progressive JPEG with 240
    scans takes seconds) against a 1 s limit: one sentence, its worker killed, nothing started
    again for it."""
    slow = progressive_jpeg(7000, 240, "RGB")
    # Workers of pools other tests left running in this process are not this pool's.
    others = {p.pid for p in _forkserver_children()}
    pool = PreparePool(1, timeout_s=1.0)
    try:
        (pid,) = [future.result(timeout=60) for future in pool.warm()]
        start = time.perf_counter()
        with pytest.raises(ImageError) as caught:
            asyncio.run(pool.prepare(slow))
        elapsed = time.perf_counter() - start
        assert 1.0 <= elapsed < SECONDS
        assert one_sentence(str(caught.value)) and "longer than 1 s" in str(caught.value)
        time.sleep(1.0)
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
        started = [p.pid for p in _forkserver_children() if p.pid not in others]
        assert started == []  # no worker started to retry it
        assert caplog.text.count("ran over 1 s") == 1
    finally:
        pool.close()


def test_a_decoder_past_the_address_space_limit_is_stopped_by_the_kernel():
    """Defence in depth: a file that passes every check but needs more memory than a worker may
    use (here a 20-megapixel 16-bit PNG against a 400 MB limit) fails with a sentence; the
    worker survives for the next upload."""
    values = np.random.default_rng(1).integers(0, 65535, (4500, 4500), dtype=np.uint16)
    png = io.BytesIO()
    Image.fromarray(values).save(png, "PNG", compress_level=1)
    small = io.BytesIO()
    Image.fromarray(values[:64, :64]).save(small, "PNG")
    pool = PreparePool(1, memory_limit_bytes=400 * 1024**2)
    try:
        (pid,) = [future.result(timeout=60) for future in pool.warm()]
        with pytest.raises(ImageError) as caught:
            asyncio.run(pool.prepare(png.getvalue()))
        assert caught.value.kind in {"too_large", "corrupt"}
        assert one_sentence(str(caught.value)), str(caught.value)
        assert asyncio.run(pool.prepare(small.getvalue())).image.size == (896, 896)
    finally:
        pool.close()
    assert _peak_bytes_gone_or_below(pid, 400 * 1024**2)


def _peak_bytes_gone_or_below(pid: int, limit: int) -> bool:
    try:
        return _peak_bytes(pid) <= limit
    except FileNotFoundError:
        return True
