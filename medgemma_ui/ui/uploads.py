"""Uploads stored under random names, and who may read them.

Gradio stores an upload as `<cache>/<SHA-256 of its bytes>/<the file's own name>`: the name a
clinician gave the file (often a patient's name or number) on the server's disk, and a path that
anyone who has the same bytes can compute. `receive` (called by `ui/middleware.py` for
`/gradio_api/upload`) stores each file as `<cache>/<32 random hex>/upload` instead, in a folder
only the server's user can enter, and `Uploads` remembers which login sent it, so that another
login can neither fetch it through the file routes nor prepare it by its path. Without logins
there is nobody to tell apart; the random name is then what keeps one user's upload from
another. Entries are forgotten after a day (Gradio purges the files after an hour).

What the app itself hands to a page (a series opened from the PACS, the SR, FHIR and PDF
downloads: patient data too) is kept the same way: `keep` moves it into Gradio's cache under a
random folder, where Gradio serves it as it is, and `Services.give` remembers it as the
caller's.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
import time
from collections import OrderedDict
from os import PathLike
from pathlib import Path
from typing import Any

FOLDER_MODE = 0o700
_FORGET_S = 24 * 3600.0
_MAX_ENTRIES = 200_000


class Uploads:
    """Who sent which upload (by resolved path): a login name, or None without logins."""

    def __init__(self) -> None:
        self._owners: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, path: str, login: str | None) -> None:
        now = time.monotonic()
        with self._lock:
            self._owners[_key(path)] = (now, login)
            while self._owners:
                oldest, (when, _) = next(iter(self._owners.items()))
                if len(self._owners) <= _MAX_ENTRIES and now - when < _FORGET_S:
                    break
                del self._owners[oldest]

    def owner(self, path: str | PathLike[str]) -> tuple[bool, str | None]:
        """(whether `path` is an upload we stored, the login that sent it)."""
        with self._lock:
            entry = self._owners.get(_key(path))
        return (False, None) if entry is None else (True, entry[1])

    def readable(self, path: str | PathLike[str], login: str | None) -> bool:
        """Anyone may read what is not an upload (examples, previews the app made) and uploads
        sent without a login; an upload sent by a login is that login's alone."""
        known, owner = self.owner(path)
        return not known or owner is None or owner == login


def keep(source: str | PathLike[str], cache_dir: str | PathLike[str], name: str = "") -> str:
    """Move the file `source` to `<cache_dir>/<32 random hex>/<name, else its own>` (folder
    0700, file 0600) and return the new path; Gradio serves a file already in its cache as it
    is, without copying it."""
    folder = Path(cache_dir) / secrets.token_hex(16)
    folder.mkdir(mode=FOLDER_MODE, parents=True)
    target = folder / (name or Path(source).name)
    shutil.move(os.fspath(source), target)  # a rename on the same file system
    os.chmod(target, 0o600)
    return str(target)


def _key(path: str | PathLike[str]) -> str:
    try:
        return str(Path(os.fsdecode(path)).resolve())
    except (OSError, ValueError):
        return os.fsdecode(path)


async def receive(
    request: Any, upload_dir: str, max_file_size: float, upload_id: str | None
) -> list[str]:
    """Gradio's own multipart parser (streamed to temporary files in `upload_dir`, size limit and
    upload progress included), then each file renamed to a random path. Raises
    `gradio.route_utils.MultiPartException` as Gradio's route does."""
    from gradio.route_utils import GradioMultiPartParser, GradioUploadFile
    from gradio.routes import file_upload_statuses

    Path(upload_dir).mkdir(exist_ok=True, parents=True)
    progress = file_upload_statuses if upload_id else None
    if progress is not None and upload_id:
        progress.track(upload_id)
    parser = GradioMultiPartParser(
        request.headers,
        request.stream(),
        max_files=1000,
        max_fields=1000,
        upload_dir=upload_dir,
        max_file_size=max_file_size,
        upload_id=upload_id,
        upload_progress=progress,
    )
    form = await parser.parse()
    paths: list[str] = []
    for part in form.getlist("files"):
        if not isinstance(part, GradioUploadFile):
            raise TypeError("File is not an instance of GradioUploadFile")
        part.file.close()
        # The temporary file is already in upload_dir: a rename, and its own name is gone.
        paths.append(keep(part.file.name, upload_dir, name="upload"))
    return paths
