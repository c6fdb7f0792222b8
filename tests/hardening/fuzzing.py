"""Seeds, mutations and the per-case check for the image fuzz tests."""

from __future__ import annotations

import io
import re
import struct
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image

from medgemma_ui.imaging import ImageError, PreparedImage, prepare
from tests.imaging.helpers import data_file

CASE_SECONDS = 5.0
MAX_JPEG = 500 * 1024

DICOM_SEEDS = (
    "CT_small.dcm",  # CT, explicit LE, rescale
    "MR_small_RLE.dcm",  # RLE
    "693_J2KI.dcm",  # JPEG 2000 lossy
    "SC_rgb_rle.dcm",  # RGB RLE
    "examples_ybr_color.dcm",  # 30-frame JPEG baseline YBR_FULL_422
    "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS
    "emri_small_jpeg_ls_lossless.dcm",  # Enhanced MR, 10 frames, JPEG-LS (pydicom-data)
    "examples_palette.dcm",  # PALETTE COLOR
)


@cache
def dicom_seed(name: str) -> bytes:
    return data_file(name).read_bytes()


def _png(im: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", **kw)
    return buf.getvalue()


def _jpeg(im: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", **kw)
    return buf.getvalue()


@cache
def raster_seeds() -> dict[str, bytes]:
    y, x = np.mgrid[0:48, 0:64]
    grey = ((x * 4 + y * 2) % 256).astype(np.uint8)
    rgb = np.stack([grey, 255 - grey, (x * y) % 256], axis=-1).astype(np.uint8)
    grey16 = (x * 1000 + y * 7).astype(np.uint16)
    rgba = np.dstack([rgb, grey]).astype(np.uint8)
    return {
        "png-grey": _png(Image.fromarray(grey)),
        "png-grey16": _png(Image.fromarray(grey16)),
        "png-rgb": _png(Image.fromarray(rgb)),
        "png-rgba": _png(Image.fromarray(rgba)),
        "png-palette": _png(Image.fromarray(rgb).convert("P")),
        "jpeg-rgb": _jpeg(Image.fromarray(rgb), quality=90),
        "jpeg-grey-progressive": _jpeg(Image.fromarray(grey), progressive=True),
    }


# --- mutations -----------------------------------------------------------------------------------


def flip_bytes(data: bytes, flips: list[tuple[float, int]]) -> bytes:
    out = bytearray(data)
    for where, value in flips:
        out[min(int(where * len(out)), len(out) - 1)] = value
    return bytes(out)


def truncate(data: bytes, where: float) -> bytes:
    return data[: int(where * len(data))]


def insert(data: bytes, where: float, garbage: bytes) -> bytes:
    i = int(where * len(data))
    return data[:i] + garbage + data[i:]


def overwrite_dicom(data: bytes, changes: dict[str, object]) -> bytes:
    """Set header fields through pydicom (so the file stays parseable) and write it back."""
    ds = pydicom.dcmread(io.BytesIO(data), force=True)
    for keyword, value in changes.items():
        if keyword == "TransferSyntaxUID":
            ds.file_meta.TransferSyntaxUID = value
        elif value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=False)
    return buf.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def overwrite_png_header(
    data: bytes, width: int, height: int, depth: int | None = None, colour: int | None = None
) -> bytes:
    """Rewrite IHDR with a valid CRC so only the declared geometry is a lie."""
    assert data[12:16] == b"IHDR"
    old = data[16:29]
    _w0, _h0, d0, c0, rest = struct.unpack(">IIBB3s", old)
    payload = struct.pack(
        ">IIBB3s",
        width,
        height,
        d0 if depth is None else depth,
        c0 if colour is None else colour,
        rest,
    )
    return data[:8] + png_chunk(b"IHDR", payload) + data[33:]


def overwrite_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the first SOFn frame header's height and width."""
    match = re.search(rb"\xff[\xc0-\xc3\xc5-\xc7\xc9-\xcb\xcd-\xcf]", data)
    assert match
    i = match.start() + 5  # FF Cx, length (2), precision (1)
    return data[:i] + struct.pack(">HH", height, width) + data[i + 4 :]


# --- the check every case passes -----------------------------------------------------------------


def message_class(error: ImageError) -> str:
    return f"{error.kind}: {str(error)[:48]}"


@dataclass
class Tally:
    cases: int = 0
    prepared: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    slowest: float = 0.0

    def report(self, name: str) -> str:
        lines = [
            f"{name}: {self.cases} cases, {self.prepared} prepared, "
            f"{self.cases - self.prepared} ImageError, slowest {self.slowest:.2f} s",
            "  by kind: " + ", ".join(f"{k}={n}" for k, n in self.kinds.most_common()),
        ]
        lines += [f"    {n:4d}  {m}" for m, n in self.errors.most_common()]
        return "\n".join(lines)


def check_case(data: bytes, tally: Tally, **kwargs: object) -> PreparedImage | ImageError:
    """prepare() must end within CASE_SECONDS with a valid PreparedImage or an ImageError."""
    start = time.perf_counter()
    try:
        result: PreparedImage | ImageError = prepare(data, **kwargs)  # type: ignore[arg-type]
    except ImageError as exc:
        result = exc
    elapsed = time.perf_counter() - start
    tally.cases += 1
    tally.slowest = max(tally.slowest, elapsed)
    assert elapsed < CASE_SECONDS, f"case took {elapsed:.1f} s"
    if isinstance(result, ImageError):
        assert str(result).strip(), "an ImageError must carry a message"
        assert result.kind in {
            "not_image",
            "no_pixels",
            "decoder_missing",
            "corrupt",
            "too_large",
            "unsupported",
            "bad_request",
        }, result.kind
        tally.kinds[result.kind] += 1
        tally.errors[message_class(result)] += 1
        return result
    tally.prepared += 1
    tally.kinds["prepared"] += 1
    assert len(result.jpeg) <= MAX_JPEG
    assert result.jpeg[:3] == b"\xff\xd8\xff"
    assert result.image.size == (896, 896)
    assert result.image.mode == "RGB"
    return result


# --- memory --------------------------------------------------------------------------------------


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/self/status")


def peak_rss_bytes() -> int:
    return _status("VmHWM")


def rss_bytes() -> int:
    return _status("VmRSS")


def overwrite_transfer_syntax(data: bytes, uid: str) -> bytes:
    """Replace the file meta's TransferSyntaxUID value in place (pydicom refuses to write a
    compressed syntax over native pixel data, which is exactly the lie we want to tell)."""
    marker = b"\x02\x00\x10\x00UI"
    i = data.find(marker, 128, 1024)
    assert i > 0, "no TransferSyntaxUID in the file meta"
    length = int.from_bytes(data[i + 6 : i + 8], "little")
    value = uid.encode() + (b"\x00" if len(uid) % 2 else b"")
    return data[: i + 6] + len(value).to_bytes(2, "little") + value + data[i + 8 + length :]
