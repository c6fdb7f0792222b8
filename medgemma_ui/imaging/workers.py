"""`prepare` in worker processes, shared fairly between users, for the web server.

Image work is CPU-bound and parts of it hold the GIL: Pillow's JPEG encoder (about 10 ms per 896²
image), pydicom's parsing, numpy glue. Run in a thread of the server, each upload stalls the event
loop that streams every other user's answer. Worker processes have their own GIL, and a decoder
that crashes takes down only its worker.

Sharing rules (`PreparePool`):

- Every job has an owner key: the login name when there is one, else the browser session
  (`ui.access.owner_key`); callers that give none share the one key `ANONYMOUS`.
- One owner holds at most `per_owner` workers at once, `max(1, workers - 1)` by default: with
  two or more workers, someone else always has one, so one user's slow or hostile files (three
  decompression bombs at once) never stop another user's preview.
- Waiting jobs are served in arrival order, skipping those whose owner already has its share.
- A job runs once, alone in its worker. A job that fails on a limit fails with its sentence; one
  that overruns the time limit, or whose worker dies (a decoder crash, or the address-space
  limit below), fails with a sentence and its worker is replaced. It is never retried: no other
  job shared that worker, and running a hostile file twice only doubles its cost.
- Each worker's address space is capped (`resource.RLIMIT_AS`, `memory_limit_bytes`), so a
  decoder that misbehaves despite the checks in `bounds.py` is stopped by the kernel, not by the
  machine running out of memory.

Workers fork from a forkserver that has imported the imaging package once, so starting or
replacing one costs milliseconds, not a fresh interpreter's imports. They leave when the server
does (`_worker_start`), even after a SIGKILL, and so do their decoder children (`safe_decode`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import multiprocessing
import os
import resource
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from os import PathLike

from .errors import OUT_OF_MEMORY, ImageError
from .pools import die_with_parent, exit_when_gone, stop_pool
from .prepared import PreparedImage, finish, render
from .rendered import DEFAULT_OPTIONS, RenderOptions

log = logging.getLogger(__name__)

# Imported by the forkserver before it forks any worker.
_PRELOAD = ["medgemma_ui.imaging.workers", "pydicom.pixels", "PIL.JpegImagePlugin"]
# The owner of jobs submitted without one: they share one share of the workers.
ANONYMOUS = "anonymous"
DEFAULT_MEMORY_LIMIT = 3 * 1024**3


def _worker_start(server_pid: int, memory_limit_bytes: int | None) -> None:
    """Worker initializer: die with the forkserver (PR_SET_PDEATHSIG) and leave when the server
    is gone (a server stopped by SIGKILL never shuts its pool down, and its workers would wait
    for work for ever); cap the address space."""
    die_with_parent()
    exit_when_gone(server_pid)
    if memory_limit_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))


def _warm() -> int:
    """Run in each new worker: load the decoders that are imported on first use."""
    import PIL.Image

    PIL.Image.init()
    return os.getpid()


def _prepare(source: bytes | str | PathLike[str], options: RenderOptions) -> PreparedImage:
    """What a worker runs: `prepare`, with its options as one value (pickled with the source)."""
    return finish(render(source, options))


def _plain(source: bytes | str | PathLike[str]) -> bytes | str:
    """Exactly `str` or `bytes`: Gradio hands over paths as `gradio.utils.NamedString`, a `str`
    subclass, and unpickling one would import all of gradio into the worker (100 MB more each)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    return str(os.fsdecode(source))


@dataclass(eq=False)
class _Job:
    owner: str
    source: bytes | str
    options: RenderOptions
    future: Future[PreparedImage] = field(default_factory=Future)


@dataclass(eq=False)
class _Slot:
    """One worker process (a process pool of one, replaced when it breaks) and the thread that
    feeds it one job at a time."""

    executor: ProcessPoolExecutor | None = None
    thread: threading.Thread | None = None


class PreparePool:
    """`await pool.prepare(path, RenderOptions(...), owner=...)` runs `prepare` in a worker
    process, under the sharing rules of this module's docstring.

    `workers=0` prepares in a thread of the calling process instead (tests of the thread path,
    and machines where forking is not wanted); there, no worker limits apply."""

    def __init__(
        self,
        workers: int,
        timeout_s: float = 120.0,
        *,
        per_owner: int | None = None,
        memory_limit_bytes: int | None = DEFAULT_MEMORY_LIMIT,
    ) -> None:
        self.workers = workers
        self.timeout_s = timeout_s
        self.per_owner = per_owner or max(1, workers - 1)
        self.memory_limit_bytes = memory_limit_bytes
        self._cond = threading.Condition()
        self._queue: collections.deque[_Job] = collections.deque()
        self._running: collections.Counter[str] = collections.Counter()
        self._slots: list[_Slot] = []
        self._context: multiprocessing.context.BaseContext | None = None
        self._closed = False

    # --- processes -------------------------------------------------------------------------

    def _mp_context(self) -> multiprocessing.context.BaseContext | None:
        """The forkserver context, or None when this platform cannot run worker processes (no
        forkserver, no working semaphores), after which images are prepared in threads."""
        with self._cond:
            if self._context is None and self.workers:
                try:
                    context = multiprocessing.get_context("forkserver")
                    context.set_forkserver_preload(_PRELOAD)
                    context.Lock()  # the semaphores the pools need (sem_open) work here
                    self._context = context
                    self._slots = [_Slot() for _ in range(self.workers)]
                except (ValueError, OSError, NotImplementedError, ImportError) as exc:
                    log.warning(
                        "image worker processes are unavailable here (%s); images are prepared "
                        "in threads of the server instead",
                        exc,
                    )
                    self.workers = 0
            return self._context

    def _executor(self, slot: _Slot) -> ProcessPoolExecutor:
        with self._cond:
            if slot.executor is None:
                slot.executor = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=self._context,
                    initializer=_worker_start,
                    initargs=(os.getpid(), self.memory_limit_bytes),
                )
            return slot.executor

    def _replace(self, slot: _Slot, executor: ProcessPoolExecutor) -> None:
        """Kill the slot's worker (stuck, or already dead) and let the next job start another."""
        with self._cond:
            if slot.executor is executor:
                slot.executor = None
        stop_pool(executor, kill=True)

    def _start_threads(self) -> None:
        with self._cond:
            for index, slot in enumerate(self._slots):
                if slot.thread is None:
                    slot.thread = threading.Thread(
                        target=self._serve, args=(slot,), name=f"image-worker-{index}", daemon=True
                    )
                    slot.thread.start()

    def warm(self) -> list[Future[int]]:
        """Start every worker now, so the first upload does not wait for them."""
        if self._mp_context() is None:
            return []
        self._start_threads()
        return [self._executor(slot).submit(_warm) for slot in self._slots]

    # --- scheduling ------------------------------------------------------------------------

    def _take(self) -> _Job | None:
        """The oldest waiting job whose owner is under its share (blocking); None once closed."""
        with self._cond:
            while not self._closed:
                for job in list(self._queue):
                    if job.future.cancelled():  # its caller went away while it waited
                        self._queue.remove(job)
                    elif self._running[job.owner] < self.per_owner:
                        self._queue.remove(job)
                        self._running[job.owner] += 1
                        return job
                self._cond.wait()
            return None

    def _done(self, job: _Job) -> None:
        with self._cond:
            self._running[job.owner] -= 1
            if self._running[job.owner] <= 0:
                del self._running[job.owner]
            self._cond.notify_all()

    def _serve(self, slot: _Slot) -> None:
        while (job := self._take()) is not None:
            try:
                if job.future.set_running_or_notify_cancel():
                    self._run(slot, job)
            finally:
                self._done(job)

    def _submit(self, slot: _Slot, job: _Job) -> tuple[ProcessPoolExecutor, Future]:
        """Hand the job to the slot's worker. A worker that died while idle (killed from
        outside) leaves its pool broken, which `submit` says at once: that worker is replaced
        before the job starts, since the job had no part in it."""
        executor = self._executor(slot)
        try:
            return executor, executor.submit(_prepare, job.source, job.options)
        except BrokenProcessPool:
            if executor is not None:
                self._replace(slot, executor)
            log.warning("an idle image worker had died; it was replaced")
        executor = self._executor(slot)
        return executor, executor.submit(_prepare, job.source, job.options)

    def _run(self, slot: _Slot, job: _Job) -> None:
        executor = None
        try:
            executor, running = self._submit(slot, job)
            job.future.set_result(running.result(timeout=self.timeout_s))
        except FutureTimeout:
            assert executor is not None
            self._replace(slot, executor)
            log.warning("an image preparation ran over %g s and was stopped", self.timeout_s)
            job.future.set_exception(
                ImageError(
                    f"Preparing this image took longer than {self.timeout_s:g} s and was "
                    "stopped; export a smaller or uncompressed copy and upload that.",
                    kind="too_large",
                )
            )
        except BrokenProcessPool:
            if executor is not None:
                self._replace(slot, executor)
            log.warning("an image worker died on a file; it was replaced (the file is refused)")
            job.future.set_exception(
                ImageError(
                    "The image decoder stopped unexpectedly on this file (it may be damaged, or "
                    "need more memory than an upload may use); export it again, uncompressed "
                    "or smaller.",
                    kind="corrupt",
                )
            )
        except BaseException as exc:  # the ImageError of a refused file, or a pickling error
            if isinstance(exc, ImageError) and str(exc) == OUT_OF_MEMORY and executor is not None:
                # The worker met its address-space limit: its heap may be too fragmented for
                # the next file, so the next one gets a fresh worker.
                self._replace(slot, executor)
            job.future.set_exception(exc)

    # --- the API ---------------------------------------------------------------------------

    async def prepare(
        self,
        source: bytes | str | PathLike[str],
        options: RenderOptions = DEFAULT_OPTIONS,
        *,
        owner: str | None = None,
    ) -> PreparedImage:
        """`options`: the window, frame and limits (`RenderOptions`); `owner`: whose job this is
        (`ui.access.owner_key`), None sharing `ANONYMOUS`."""
        if self._mp_context() is None:
            return await asyncio.to_thread(_prepare, source, options)
        job = _Job(owner or ANONYMOUS, _plain(source), options)
        with self._cond:
            if self._closed:
                raise ImageError(
                    "The server is stopping; upload the image again in a moment.",
                    kind="bad_request",
                )
            self._queue.append(job)
            self._cond.notify_all()
        self._start_threads()
        # Cancelling the await cancels the job while it waits; once running, it runs to its end
        # (bounded by the time limit) and keeps its owner's share until then.
        return await asyncio.wrap_future(job.future)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            waiting, self._queue = list(self._queue), collections.deque()
            executors = [slot.executor for slot in self._slots if slot.executor is not None]
            for slot in self._slots:
                slot.executor = None
            self._cond.notify_all()
        for job in waiting:
            job.future.cancel()
        for executor in executors:
            stop_pool(executor, kill=False)
