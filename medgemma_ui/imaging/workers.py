"""`prepare` in worker processes, for the web server.

Image work is CPU-bound and parts of it hold the GIL: Pillow's JPEG encoder (about 10 ms per 896²
image), pydicom's parsing, numpy glue. Run in a thread of the server, each upload stalls the event
loop that streams every other user's answer. Worker processes have their own GIL, and a decoder
that crashes takes down only its worker: the pool is rebuilt and the request retried once, so a
user whose preparation shared a pool with the crash is not refused.

Workers fork from a forkserver that has imported the imaging package once, so starting or
replacing one costs milliseconds, not a fresh interpreter's imports.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from os import PathLike

from medgemma_ui.settings import ImageLimits

from .errors import ImageError
from .pools import stop_pool
from .prepared import PreparedImage, prepare

log = logging.getLogger(__name__)

# Imported by the forkserver before it forks any worker.
_PRELOAD = ["medgemma_ui.imaging.workers", "pydicom.pixels", "PIL.JpegImagePlugin"]


def _exit_with(server_pid: int) -> None:
    """Worker initializer: leave when the server is gone. A server stopped by SIGTERM or SIGKILL
    never shuts its pool down, and its workers would otherwise wait for work for ever."""

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(server_pid, 0)
            except (ProcessLookupError, PermissionError):  # gone, or its pid reused by another user
                os._exit(0)

    threading.Thread(target=watch, name="exit-with-server", daemon=True).start()


def _warm() -> int:
    """Run in each new worker: load the decoders that are imported on first use."""
    import PIL.Image

    PIL.Image.init()
    return os.getpid()


def _plain(source: bytes | str | PathLike[str]) -> bytes | str:
    """Exactly `str` or `bytes`: Gradio hands over paths as `gradio.utils.NamedString`, a `str`
    subclass, and unpickling one would import all of gradio into the worker (100 MB more each)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    return str(os.fsdecode(source))


class PreparePool:
    """`await pool.prepare(path, window=..., frame=...)` runs `prepare` in a worker process.

    `workers=0` prepares in a thread of the calling process instead (tests of the thread path,
    and machines where forking is not wanted)."""

    def __init__(self, workers: int, limits: ImageLimits, timeout_s: float = 120.0) -> None:
        self.workers = workers
        self.limits = limits
        self.timeout_s = timeout_s
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _current(self) -> ProcessPoolExecutor | None:
        """The pool, started on first use; None when this platform cannot run one (no
        forkserver, no working semaphores), after which images are prepared in threads."""
        with self._lock:
            if self._executor is None and self.workers:
                try:
                    context = multiprocessing.get_context("forkserver")
                    context.set_forkserver_preload(_PRELOAD)
                    self._executor = ProcessPoolExecutor(
                        max_workers=self.workers,
                        mp_context=context,
                        initializer=_exit_with,
                        initargs=(os.getpid(),),
                    )
                except (ValueError, OSError, NotImplementedError, ImportError) as exc:
                    log.warning(
                        "image worker processes are unavailable here (%s); images are prepared "
                        "in threads of the server instead",
                        exc,
                    )
                    self.workers = 0
            return self._executor

    def _discard(self, executor: ProcessPoolExecutor, *, kill: bool) -> None:
        with self._lock:
            if self._executor is executor:
                self._executor = None
        stop_pool(executor, kill=kill)

    def warm(self) -> list[Future[int]]:
        """Start every worker now, so the first upload does not wait for them."""
        executor = self._current()
        if executor is None:
            return []
        return [executor.submit(_warm) for _ in range(self.workers)]

    async def prepare(
        self,
        source: bytes | str | PathLike[str],
        *,
        window: str | None = None,
        frame: int | None = None,
    ) -> PreparedImage:
        for attempt in (1, 2):
            executor = self._current()
            if executor is None:
                return await asyncio.to_thread(
                    prepare, source, window=window, frame=frame, limits=self.limits
                )
            try:
                future = executor.submit(
                    prepare, _plain(source), window=window, frame=frame, limits=self.limits
                )
                return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
            except BrokenProcessPool:
                self._discard(executor, kill=False)
                log.warning("an image worker died (attempt %d); the pool was restarted", attempt)
            except TimeoutError:
                self._discard(executor, kill=True)
                raise ImageError(
                    f"Preparing this image took longer than {self.timeout_s:g} s and was "
                    "stopped; export a smaller or uncompressed copy and upload that.",
                    kind="too_large",
                ) from None
        raise ImageError(
            "The image decoder stopped unexpectedly on this file; it may be damaged, so export "
            "it again (an uncompressed copy is safest).",
            kind="corrupt",
        )

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            stop_pool(executor, kill=False)
