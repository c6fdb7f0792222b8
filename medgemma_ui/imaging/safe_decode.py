"""Decoder plugins that can take the process down, kept at arm's length.

Found by tests/hardening/test_fuzz_images.py:
- python-gdcm aborts the whole process (an uncaught C++ `gdcm::Exception`, so `terminate`) when
  the header disagrees with the pixel data, e.g. BitsAllocated 32 over an 8-bit JPEG Lossless
  stream. One bad upload would stop the server for every user. gdcm is therefore never used when
  another plugin can read the transfer syntax, and where it is the only one (JPEG Lossless) it
  runs in a child process that may die alone.
- pyjpegls (CharLS) spends 8-15 s of CPU failing on some damaged 64×64 JPEG-LS streams, so it
  also runs in the child process, under a time limit.
- pylibjpeg-rle (Rust) panics on some damaged RLE data; pyo3 raises that as `PanicException`, a
  `BaseException`, which `except Exception` does not catch.

The child process dies with the process that started it (an image worker killed over its time
limit, a server killed with SIGKILL): `_child_start`. It inherits that process's address-space
limit.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder, pixel_array

from .pools import die_with_parent, exit_when_gone, stop_pool

# Plugins that run in the child process, and how long they may take there.
ISOLATED_TIMEOUT_S = {"gdcm": 30.0, "pyjpegls": 3.0}

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


class DecoderCrashed(RuntimeError):
    """A decoder plugin crashed or hung (the message is for the log, not for the user)."""


def is_decoder_panic(exc: BaseException) -> bool:
    """A Rust decoder's panic (pyo3 `PanicException`, a BaseException)."""
    return type(exc).__name__ == "PanicException" and type(exc).__module__ == "pyo3_runtime"


def plugins_for(ds: Dataset) -> tuple[str, ...]:
    """The installed plugins for the dataset's transfer syntax, in pydicom's order; () for native
    or unknown syntaxes (pydicom's own call then decodes or names the problem)."""
    ts = getattr(ds, "file_meta", Dataset()).get("TransferSyntaxUID")
    if not ts:
        return ()
    try:
        return tuple(get_decoder(ts).available_plugins)
    except Exception:
        return ()


def decode(
    ds: Dataset, index: int | None, preferred: str | None, *, as_rgb: bool = True
) -> np.ndarray:
    """Decode one frame: the preferred plugin first, then every other installed plugin except
    gdcm; gdcm only when it is the only one, and then in a child process. Raises the last
    decoder's exception (a RuntimeError naming every plugin's failure when several failed)."""
    plugins = plugins_for(ds)
    if not plugins:
        return pixel_array(ds, index=index, as_rgb=as_rgb)
    if plugins == ("gdcm",):
        return _decode_isolated(ds, index, "gdcm", as_rgb)
    order = [p for p in (preferred, *plugins) if p and p != "gdcm" and p in plugins]
    failures: list[str] = []
    last: BaseException | None = None
    for plugin in dict.fromkeys(order):
        try:
            if plugin in ISOLATED_TIMEOUT_S:
                return _decode_isolated(ds, index, plugin, as_rgb)
            return pixel_array(ds, index=index, decoding_plugin=plugin, as_rgb=as_rgb)
        except MemoryError:
            raise  # another plugin would need as much
        except Exception as exc:
            last = exc
        except BaseException as exc:
            if not is_decoder_panic(exc):
                raise
            last = exc
        failures.append(f"{plugin}: {last}")
    if len(failures) == 1 and isinstance(last, Exception):
        raise last
    raise RuntimeError(
        "Unable to decode as exceptions were raised by all available plugins:\n  "
        + "\n  ".join(failures)
    ) from last


def _child_start(parent_pid: int) -> None:
    """The child dies with the process that decodes through it: at once when that process is
    killed (an image worker over its time limit, a server killed with SIGKILL), by PDEATHSIG,
    and within a second by the watch, where PDEATHSIG is not available."""
    die_with_parent()
    exit_when_gone(parent_pid, every_s=0.5)


def _child_decode(ds: Dataset, index: int | None, plugin: str, as_rgb: bool) -> np.ndarray:
    return pixel_array(ds, index=index, decoding_plugin=plugin, as_rgb=as_rgb)


def _decode_isolated(
    ds: Dataset, index: int | None, plugin: str, as_rgb: bool = True
) -> np.ndarray:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_child_start,
                initargs=(os.getpid(),),
            )
        pool = _pool
    try:
        future = pool.submit(_child_decode, ds, index, plugin, as_rgb)
        return future.result(timeout=ISOLATED_TIMEOUT_S[plugin])
    except (BrokenProcessPool, FutureTimeout) as exc:
        with _pool_lock:
            if _pool is pool:
                _pool = None
        stop_pool(pool, kill=True)  # a hung decoder would otherwise hold the only worker
        raise DecoderCrashed(f"the {plugin} decoder crashed or ran too long: {exc!r}") from exc
