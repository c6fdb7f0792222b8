"""A CT series built on the fly from one real slice of the test data: N instances with their own
InstanceNumber, SOPInstanceUID, position and pixel values, written in shuffled file order."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid


def write_ct_series(
    folder: Path,
    count: int = 100,
    *,
    source: str | Path = "CT_small.dcm",
    seed: int = 0,
    with_numbers: bool = True,
    series_uid: str | None = None,
    orientation: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
) -> list[Path]:
    """`count` slices of one series in `folder`, file names shuffled so that name order is not
    slice order. Slice k (1-based) has InstanceNumber k (unless `with_numbers` is False), is k mm
    along the normal, and its pixels are the source's plus 7·k, so every slice's JPEG differs."""
    folder.mkdir(parents=True, exist_ok=True)
    path = Path(source) if Path(source).is_file() else get_testdata_file(str(source))
    template = pydicom.dcmread(path)
    pixels = template.pixel_array.astype(np.int32)
    series_uid = series_uid or generate_uid()
    order = list(range(1, count + 1))
    random.Random(seed).shuffle(order)
    paths = []
    for position, k in enumerate(order):
        ds = template.copy()
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        if with_numbers:
            ds.InstanceNumber = k
        elif "InstanceNumber" in ds:
            del ds.InstanceNumber
        ds.ImageOrientationPatient = list(orientation)
        normal = np.cross(orientation[:3], orientation[3:])
        ds.ImagePositionPatient = [float(v) for v in normal * k]
        value = np.clip(pixels + 7 * k, np.iinfo(np.int16).min, np.iinfo(np.int16).max)
        ds.PixelData = value.astype(template.pixel_array.dtype).tobytes()
        path = folder / f"file_{position:03}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def slice_number(path: Path) -> int:
    """The k a file of `write_ct_series` was written for (from its position along the normal)."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return round(float(np.linalg.norm(np.array(ds.ImagePositionPatient, dtype=float))))
