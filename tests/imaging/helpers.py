"""Shared helpers for imaging tests: the test-data directories and synthetic DICOM builders."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from unittest import mock

import data_store
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from medgemma_ui.imaging import ImageError, RenderOptions, render
from medgemma_ui.imaging.rendered import Rendered

# Enumerated from the installed wheels: get_testdata_file() of a missing name goes to the network.
PYDICOM_DIR = Path(pydicom.__file__).parent / "data" / "test_files"
PYDICOM_DATA_DIR = Path(data_store.__file__).parent / "data"


def all_files() -> list[Path]:
    files = [
        p for d in (PYDICOM_DIR, PYDICOM_DATA_DIR) for p in sorted(d.rglob("*")) if p.is_file()
    ]
    assert len(files) > 150, "the pydicom and pydicom-data wheels should ship their test files"
    return files


def data_file(name: str) -> Path:
    for directory in (PYDICOM_DATA_DIR, PYDICOM_DIR):
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(name)


@cache
def has_pixel_data(path: Path) -> bool:
    try:
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=False)
        return any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))
    except Exception:
        return False


@cache
def cached_render(path: Path, window: str | None = None) -> Rendered | ImageError:
    """Decode each file once per test session (the large J2K radiographs take about a second)."""
    try:
        return render(path, RenderOptions(window=window))
    except ImageError as exc:
        return exc


@cache
def full_resolution_render(path: Path, window: str | None = None) -> Rendered:
    """`render` with the reduced-resolution JPEG 2000 decode turned off: the pipeline as it was
    before it, decoding every pixel (for files where `info` has `decoded_at`)."""
    with mock.patch("medgemma_ui.imaging.j2k_reduced.decode_reduced", return_value=None):
        return render(path, RenderOptions(window=window))


CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def make_dicom(
    pixels: np.ndarray,
    *,
    modality: str = "OT",
    photometric: str = "MONOCHROME2",
    preamble: bool = True,
    sop_class: str = CT_IMAGE_STORAGE,
    frames: int | None = None,
    **tags: object,
) -> bytes:
    """A minimal valid DICOM holding `pixels` (uint8/uint16/int16, (frames,) rows, cols)."""
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = modality
    rows, cols = pixels.shape[-2:]
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    bits = pixels.dtype.itemsize * 8
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    if frames is not None:
        ds.NumberOfFrames = frames
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    buffer = io.BytesIO()
    if preamble:
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = sop_class
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    else:
        pydicom.dcmwrite(buffer, ds, implicit_vr=False, little_endian=True)
    return buffer.getvalue()
