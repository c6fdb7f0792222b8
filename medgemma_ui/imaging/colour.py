"""Colour DICOM pixels to 8-bit RGB: palettes through their LUT, >8-bit colour scaled. YBR is
already RGB from pydicom 3 (and from Pillow's JPEG decoder): it is never converted again
(docs/dicom.md pitfall 2)."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut


def palette_to_rgb(arr: np.ndarray, ds: Dataset) -> np.ndarray:
    """PALETTE COLOR through pydicom's apply_color_lut, evaluated once per stored value in the
    frame's range and then gathered (much faster than mapping every pixel)."""
    if arr.dtype.kind not in "ui" or arr.dtype.itemsize > 2:
        return _palette_8bit(apply_color_lut(arr, ds))
    unsigned = np.uint8 if arr.dtype.itemsize == 1 else np.uint16
    arr = np.ascontiguousarray(arr)
    index = arr.view(unsigned)
    low, high = int(arr.min()), int(arr.max())
    present = np.arange(low, high + 1).astype(arr.dtype)
    table = np.zeros((np.iinfo(unsigned).max + 1, 4), dtype=np.uint8)
    table[present.view(unsigned), :3] = _palette_8bit(apply_color_lut(present, ds))
    return gather_rgbx(table, index)


def gather_rgbx(table: np.ndarray, index: np.ndarray) -> np.ndarray:
    """(N, 4) uint8 table, integer index image -> HxWx4 RGBX, as one 32-bit gather per pixel
    (several times faster than gathering (N, 3) rows)."""
    packed = np.ascontiguousarray(table).view(np.uint32).ravel()[index]
    return packed.view(np.uint8).reshape(*index.shape, 4)


def _palette_8bit(rgb: np.ndarray) -> np.ndarray:
    if rgb.dtype == np.uint8:
        return rgb
    # Palette entries are 16-bit; a few devices declare 16 bits but store 8-bit values.
    return ((rgb >> 8) if rgb.max() > 255 else rgb).astype(np.uint8)


def colour_to_8bit(arr: np.ndarray, bits: int, warnings: list[str]) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    bits = min(max(bits, 1), arr.dtype.itemsize * 8)
    warnings.append(f"{bits}-bit colour was scaled to 8 bits.")
    work = np.float64 if bits > 16 else np.float32
    scaled = np.rint(arr.astype(work) * (255.0 / (2**bits - 1)))
    return np.clip(scaled, 0, 255).astype(np.uint8)
