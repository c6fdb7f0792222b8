"""PNG / JPEG / WebP / TIFF / BMP / GIF bytes -> one frame as 8-bit pixels before geometry.

Images are opened through Pillow's format plugins directly: that reads only the header, so the
pixel limit is checked before anything is decoded and Pillow's process-wide decompression-bomb
threshold (a warning, then an exception at 2x) never decides for us.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import (
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

from medgemma_ui.settings import ImageLimits

from . import bounds
from .errors import ImageError, corrupt_on_failure
from .info import ImageInfo
from .rendered import Rendered, RenderOptions, check_limits, choose_frame
from .windowing import auto, percentile_range

_OPENERS: tuple[tuple[tuple[bytes, ...], Any], ...] = (
    ((b"\x89PNG\r\n\x1a\n",), PngImagePlugin.PngImageFile),
    ((b"\xff\xd8\xff",), JpegImagePlugin.jpeg_factory),
    ((b"GIF87a", b"GIF89a"), GifImagePlugin.GifImageFile),
    ((b"BM",), BmpImagePlugin.BmpImageFile),
    ((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"), TiffImagePlugin.TiffImageFile),
)
_FORMAT_NAMES = {"MPO": "jpeg"}
_HIGH_DEPTH = {"I;16", "I;16L", "I;16B", "I;16N", "I", "F"}


def _open(data: bytes) -> Image.Image:
    opener = None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        opener = WebPImagePlugin.WebPImageFile
    for magics, candidate in _OPENERS:
        if data.startswith(magics):
            opener = candidate
    if opener is None:
        raise ImageError(
            "This file is not a recognised image; upload a PNG, JPEG, WebP, TIFF, BMP or "
            "DICOM file.",
            kind="not_image",
        )
    with corrupt_on_failure(
        "This image file is damaged or incomplete and cannot be opened; export it again."
    ):
        return opener(io.BytesIO(data))


def render_raster(data: bytes, options: RenderOptions) -> Rendered:
    """Decode one frame (page) of a raster image to 8-bit pixels (before padding and resizing)."""
    limits, frame = options.limits, options.frame
    im = _open(data)
    width, height = im.size
    check_limits(height, width, 1, limits)
    fmt = _FORMAT_NAMES.get(str(im.format), str(im.format or "unknown").lower())
    count = int(getattr(im, "n_frames", 1) or 1)
    check_limits(height, width, count, limits)
    _check_streams(data, im, limits)
    k = choose_frame(0 if frame is None else frame, count, what="image")  # pages: the first
    warnings: list[str] = []
    with corrupt_on_failure(
        "This image file is damaged or incomplete and cannot be decoded; export it again."
    ):
        if k:
            im.seek(k)
            check_limits(im.size[1], im.size[0], count, limits)  # pages may differ in size
        im.load()
        mode = im.mode
        orientation = im.getexif().get(0x0112, 1) if fmt in {"jpeg", "webp", "tiff", "png"} else 1
        if orientation not in (None, 1):
            im = ImageOps.exif_transpose(im)
            width, height = im.size
            warnings.append("The photo was turned upright using its EXIF orientation tag.")
        pixels, used, choices, bits = _to_8bit(im, options.window, warnings)
    if count > 1:
        warnings.append(f"This image has {count} frames; only frame {k} (0-based) is sent.")
    info = ImageInfo(
        source_format=fmt,
        original_size=(width, height),
        bits_stored=bits,
        samples_per_pixel=1 if pixels.ndim == 2 else 3,
        mode=mode,
        frame_index=k,
        frame_count=count,
        window=used,
        window_choices=tuple(choices),
        warnings=tuple(warnings),
    )
    return Rendered(np.ascontiguousarray(pixels), info)


def _check_streams(data: bytes, im: Image.Image, limits: ImageLimits) -> None:
    """What the decoder will really do, from the compressed data (`bounds.py`): the scans of a
    JPEG (or of each JPEG in an MPO), and of the JPEG strips or tiles inside a TIFF."""
    if im.format in {"JPEG", "MPO"}:
        bounds.check_jpeg(data, limits)
        return
    tags = getattr(im, "tag_v2", None) or {}
    if im.format == "TIFF" and tags.get(259) in (6, 7):  # old- and new-style JPEG compression
        pieces = len(tags.get(273) or tags.get(324) or ())  # strip or tile offsets
        scans = data.count(b"\xff\xda")  # at least every SOS marker, and maybe a few more
        if scans > bounds.MAX_JPEG_SCANS + pieces:
            raise ImageError(
                f"This TIFF's JPEG data is split into about {scans} scans for {pieces} strips "
                "or tiles, far more than real images have, so it was not decoded; export it "
                "again as PNG or uncompressed TIFF.",
                kind="too_large",
            )


def _composite_on_black(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.uint16)
    if colour.ndim == 3:
        a = a[..., None]
    return ((colour.astype(np.uint16) * a + 127) // 255).astype(np.uint8)


def _to_8bit(
    im: Image.Image, window: str | None, warnings: list[str]
) -> tuple[np.ndarray, str | None, list[str], int]:
    mode = im.mode
    if mode in _HIGH_DEPTH:
        values = np.asarray(im)
        lo_full, hi_full = float(values.min()), float(values.max())
        choices = ["range", "auto"]
        used = window or "range"
        if used not in choices:
            raise ImageError(
                f"Unknown window {used!r} for this greyscale image; choose one of: "
                f"{', '.join(choices)}.",
                kind="bad_request",
            )
        lo, hi = (lo_full, hi_full) if used == "range" else percentile_range(values)
        warnings.append(
            f"This {values.dtype.itemsize * 8}-bit greyscale image was scaled to 8 bits "
            f"using its {'value range' if used == 'range' else '0.5–99.5 percentile range'} "
            f"({lo:g}–{hi:g})."
        )
        return auto(lo, hi)(values), used, choices, values.dtype.itemsize * 8
    if window is not None:
        raise ImageError(
            "Windows apply only to DICOM and 16-bit greyscale images; choose no window for "
            "this image.",
            kind="bad_request",
        )
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in {"La", "PA"}:
        im = im.convert("LA")
    elif mode == "RGBa":
        im = im.convert("RGBA")
    elif mode == "1":
        im = im.convert("L")
    elif mode not in {"L", "LA", "RGB", "RGBA"}:
        im = im.convert("RGB")
    if im.mode == "LA":
        la = np.asarray(im)
        return _composite_on_black(la[..., 0], la[..., 1]), None, [], 8
    if im.mode == "RGBA":
        rgba = np.asarray(im)
        return _composite_on_black(rgba[..., :3], rgba[..., 3]), None, [], 8
    return np.asarray(im), None, [], 8
