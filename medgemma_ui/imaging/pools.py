"""Process pools in imaging (`workers.PreparePool` and the isolated decoder in `safe_decode`):
stopping one that has gone wrong, and making their processes die with their parent."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def stop_pool(executor: ProcessPoolExecutor, *, kill: bool) -> None:
    """Shut `executor` down without waiting, dropping the work still queued. `kill=True` first
    kills its worker processes: a hung worker would otherwise keep its slot for ever, since
    `shutdown` only asks workers to leave once they finish.

    The executor keeps its processes in the private `_processes`; this is the one place that
    reads it, and an executor without it (another Python) is shut down all the same."""
    if kill:
        for process in list((getattr(executor, "_processes", None) or {}).values()):
            process.kill()
    executor.shutdown(wait=False, cancel_futures=True)


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process the moment the thread that started it exits (Linux
    `prctl(PR_SET_PDEATHSIG)`; elsewhere nothing, and `exit_when_gone` still applies). Pools
    start their processes from a thread that lives as long as the parent: the worker's main
    thread for decoder children, the forkserver for image workers. If the parent died before
    this ran, the process is an orphan already and leaves at once."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(0)


def exit_when_gone(pid: int, *, every_s: float = 1.0) -> None:
    """Leave when process `pid` is gone, checked every `every_s` from a daemon thread: for the
    server that forked this worker through the forkserver (not its parent, so PDEATHSIG cannot
    watch it), and on platforms without PDEATHSIG."""

    def watch() -> None:
        while True:
            time.sleep(every_s)
            try:
                os.kill(pid, 0)
            except (ProcessLookupError, PermissionError):  # gone, or its pid reused by another user
                os._exit(0)

    threading.Thread(target=watch, name="exit-with-server", daemon=True).start()
