"""Preparation that starts while a series is still downloading.

The analysis plans a series only once it has every file (grouping and sorting need all the
headers), then prepares the slices it keeps. From the PACS we already know the instances'
InstanceNumbers (QIDO-RS) before any file arrives, so the slices the planner will keep are known
too: `PrefetchingPreparer` starts preparing each of them as soon as its file is written, and
hands the finished image to the analysis when it asks for the same file, window and frame. A
guess that turns out wrong (no InstanceNumbers, another window chosen) only costs the wasted work:
the analysis still prepares whatever it asks for.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Sequence
from os import PathLike
from typing import Any

from medgemma_ui.imaging import PreparedImage
from medgemma_ui.imaging.series import select_slices
from medgemma_ui.pacs.dicomweb import InstanceEntry

Prepare = Callable[..., Awaitable[PreparedImage]]
_Key = tuple[str, str | None, int | None]


def likely_slices(entries: Sequence[InstanceEntry]) -> set[str]:
    """SOP Instance UIDs of the slices the series planner will keep, when every instance has an
    InstanceNumber and is single-frame (the planner sorts by it); else none."""
    if len(entries) < 2 or any(e.instance_number is None or e.frames > 1 for e in entries):
        return set()
    ordered = sorted(entries, key=lambda e: e.instance_number or 0)
    return {ordered[i].sop_instance_uid for i in select_slices(len(ordered))}


class PrefetchingPreparer:
    """A preparer (`await preparer(source, window=..., frame=...)`) that serves images started
    early by `prefetch(path)`, else calls `inner`."""

    def __init__(self, inner: Prepare) -> None:
        self._inner = inner
        self._started: dict[_Key, asyncio.Task[PreparedImage]] = {}

    def prefetch(self, source: str | PathLike[str]) -> None:
        key: _Key = (os.fspath(source), None, None)
        if key not in self._started:
            self._started[key] = asyncio.ensure_future(self._inner(key[0], window=None, frame=None))

    async def __call__(
        self, source: bytes | str | PathLike[str], *, window: str | None, frame: int | None
    ) -> PreparedImage:
        if isinstance(source, bytes):
            return await self._inner(source, window=window, frame=frame)
        path = os.fspath(source)
        started = self._started.get((path, window, frame))
        if started is None and window is not None:
            # Started with the image's own default window: the same image when that is the one
            # asked for (CT's default is MedGemma's own encoding, the series templates' too).
            early = self._started.get((path, None, frame))
            if early is not None:
                with contextlib.suppress(Exception):
                    if (await early).info.window == window:
                        started = early
        if started is not None:
            with contextlib.suppress(Exception):
                return await started
        return await self._inner(source, window=window, frame=frame)

    async def aclose(self) -> None:
        """Wait for (or cancel) what was started and not used."""
        for task in self._started.values():
            task.cancel()
        await asyncio.gather(*self._started.values(), return_exceptions=True)
        self._started.clear()

    @property
    def started(self) -> int:
        return len(self._started)

    def __repr__(self) -> str:  # never the paths
        return f"PrefetchingPreparer(started={self.started})"


def prefetch_callback(
    preparer: PrefetchingPreparer, entries: Sequence[InstanceEntry]
) -> Callable[[Any, InstanceEntry], None]:
    """An `on_instance` for `DicomwebClient.retrieve_series` that prefetches the likely slices."""
    keep = likely_slices(entries)

    def on_instance(instance: Any, entry: InstanceEntry) -> None:
        if entry.sop_instance_uid in keep and isinstance(instance.source, str):
            preparer.prefetch(instance.source)

    return on_instance
