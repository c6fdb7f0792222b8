"""Files that hold ratings are private to the app's user: mode 0600 in folders created 0700.

Ratings carry reviewers' names, comments and image hashes, so the SQLite database (and the WAL and
shared-memory files SQLite creates beside it, which take the database file's mode), exports and
Hub shards are never group- or world-readable, whatever the process umask says.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Literal, TextIO, cast

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path | str) -> Path:
    """Create `path` and any missing parents with mode 0700 (existing folders are left as they
    are: they may be shared on purpose, and the files inside are 0600 either way)."""
    path = Path(path)
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=FOLDER_MODE)
        except FileExistsError:  # another process made it first
            continue
        os.chmod(folder, FOLDER_MODE)  # mkdir's mode is masked by the umask; 0700 is the point
    return path


def private_file(path: Path | str) -> Path:
    """Make sure `path` exists with mode 0600 (tightening an existing file that is not)."""
    path = Path(path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def open_private(
    path: Path | str, mode: Literal["w", "a"] = "w", *, newline: str | None = None
) -> TextIO:
    """Open a text file for writing (UTF-8) that is created with mode 0600."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
        os.fchmod(fd, FILE_MODE)
    return cast(TextIO, os.fdopen(fd, mode, encoding="utf-8", newline=newline))


def write_private_bytes(path: Path | str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
