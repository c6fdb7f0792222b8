"""Stopping a process pool that has gone wrong, for the two pools in imaging (`workers.PreparePool`
and the isolated decoder in `safe_decode`)."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor


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
