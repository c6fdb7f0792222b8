"""Read the source into memory (after the byte limit) and tell DICOM from raster by content."""

from __future__ import annotations

import os
from pathlib import Path

from medgemma_ui.settings import ImageLimits

from .errors import ImageError

Source = bytes | bytearray | memoryview | str | os.PathLike[str]

# First tags of a DICOM stream without preamble: file meta (0002,xxxx) or the usual first data
# groups (0008,xxxx identifying, 0018/0020/0028 when stripped), little or big endian.
_BARE_DICOM_GROUPS = {0x0002, 0x0008, 0x0010, 0x0018, 0x0020, 0x0028}

_RASTER_MAGIC = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"II+\x00",
    b"MM\x00+",
)

_NOT_IMAGES = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0", "an Office document"),
    (b"{\\rtf", "an RTF document"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 file"),
    (b"\xff\x4f\xff\x51", "a raw JPEG 2000 codestream"),
)


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


def read_source(source: Source, limits: ImageLimits) -> bytes:
    """Return the bytes of `source`, refusing files over `limits.max_bytes` before reading them."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if len(data) > limits.max_bytes:
            raise _too_many_bytes(len(data), limits)
        return data
    if not isinstance(source, str | os.PathLike):
        raise ImageError(
            "The image must be given as file contents (bytes) or a file path.", kind="bad_request"
        )
    path = Path(source)
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise _too_many_bytes(size, limits)
        return path.read_bytes()
    except ImageError:
        raise
    except IsADirectoryError as exc:
        raise ImageError(
            "That is a folder, not an image file; choose one image file.", kind="bad_request"
        ) from exc
    except OSError as exc:
        raise ImageError(
            "The file could not be read; check that it exists and upload it again.",
            kind="bad_request",
        ) from exc


def _too_many_bytes(size: int, limits: ImageLimits) -> ImageError:
    return ImageError(
        f"This file is {_mb(size)}, over the {_mb(limits.max_bytes)} limit; "
        "upload a smaller or single-frame export.",
        kind="too_large",
    )


def _looks_like_bare_dicom(data: bytes) -> bool:
    if len(data) < 8:
        return False
    group_le = int.from_bytes(data[0:2], "little")
    group_be = int.from_bytes(data[0:2], "big")
    if group_le in _BARE_DICOM_GROUPS:
        return True
    return group_be in _BARE_DICOM_GROUPS and data[0] == 0


def sniff(data: bytes) -> str:
    """Return "dicom" or "raster", or raise ImageError naming what the bytes are instead."""
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "dicom"
    if any(data.startswith(magic) for magic in _RASTER_MAGIC):
        return "raster"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "raster"
    if _looks_like_bare_dicom(data):
        return "dicom"
    raise not_an_image(data)


def not_an_image(data: bytes) -> ImageError:
    if not data:
        return ImageError("The file is empty; upload the image again.", kind="not_image")
    for magic, what in _NOT_IMAGES:
        if data.startswith(magic):
            return ImageError(
                f"This is {what}, not an image; upload a PNG, JPEG or DICOM image instead.",
                kind="not_image",
            )
    head = data[:4096]
    if head.lstrip().startswith((b"<", b"{", b"[")) or _mostly_text(head):
        return ImageError(
            "This file is text, not an image; upload a PNG, JPEG or DICOM image instead.",
            kind="not_image",
        )
    return ImageError(
        "This file is not a recognised image; upload a PNG, JPEG, WebP, TIFF, BMP or DICOM file.",
        kind="not_image",
    )


def _mostly_text(head: bytes) -> bool:
    text = head.decode("utf-8", errors="replace")
    printable = sum((ch.isprintable() and ch != "\ufffd") or ch in "\r\n\t" for ch in text)
    return printable >= 0.95 * max(len(text), 1)
