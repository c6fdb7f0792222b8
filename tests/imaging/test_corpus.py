"""Every file in the pydicom and pydicom-data wheels goes through prepare; greyscale output agrees
with highdicom within one grey level before geometry."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import highdicom
import numpy as np
import pydicom
import pytest
from PIL import Image

from medgemma_ui.imaging import ImageError, finish

from .helpers import (
    all_files,
    cached_render,
    data_file,
    full_resolution_render,
    has_pixel_data,
)

# Pixel-data files that are refused, and why (a substring of the message).
EXPECTED_FAILURES = {
    # 12-bit JPEG Extended: only the GPL pylibjpeg-libjpeg decodes it, and it is not installed.
    "JPGExtended.dcm": "pylibjpeg-libjpeg",
    "JPEG-lossy.dcm": "pylibjpeg-libjpeg",
    # Deliberately broken files shipped as negative tests.
    "MR_truncated.dcm": "truncated",
    "JPEG2000-embedded-sequence-delimiter.dcm": "damaged or forged",  # its SIZ is garbled
    "badVR.dcm": "invalid NumberOfFrames",
    "emri_small_jpeg_2k_lossless_too_short.dcm": "damaged or incomplete",
    # Pixel Data without Rows/Columns: test files for sequences and meta, not images.
    "nested_priv_SQ.dcm": "no Rows",
    "meta_missing_tsyntax.dcm": "no Rows",
}

UID_LIKE = re.compile(r"\b\d+(\.\d+){4,}\b")
FILES = all_files()


def _id(path: Path) -> str:
    return path.name if path.parent.name in ("test_files", "data") else "/".join(path.parts[-3:])


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_every_file_prepares_or_is_refused_as_expected(path: Path) -> None:
    result = cached_render(path)
    if path.name in EXPECTED_FAILURES:
        assert isinstance(result, ImageError), f"{path.name} was expected to fail"
        assert EXPECTED_FAILURES[path.name] in str(result)
        return
    if not has_pixel_data(path):
        assert isinstance(result, ImageError), "a file without pixels must be refused"
        assert result.kind in {"no_pixels", "not_image", "corrupt"}
        assert "\n" not in str(result) and str(result).endswith(".")
        return
    assert not isinstance(result, ImageError), f"{path.name}: {result}"
    prepared = finish(result)
    assert prepared.image.mode == "RGB"
    assert prepared.image.size == (896, 896)
    assert len(prepared.jpeg) <= 500_000
    assert prepared.jpeg[:3] == b"\xff\xd8\xff"
    decoded = np.asarray(Image.open(io.BytesIO(prepared.jpeg)).convert("RGB"))
    assert np.array_equal(np.asarray(prepared.image), decoded)
    dumped = json.dumps(prepared.info.to_json())
    assert not UID_LIKE.search(dumped), dumped
    info = prepared.info
    assert info.source_format == "dicom"
    assert 0 <= info.frame_index < info.frame_count
    assert info.window is None or info.window in info.window_choices


def test_corpus_is_large_and_mostly_decodes() -> None:
    pixel_files = [p for p in FILES if has_pixel_data(p)]
    decoded = [p for p in pixel_files if not isinstance(cached_render(p), ImageError)]
    assert len(pixel_files) >= 150
    assert len(decoded) == len(pixel_files) - len(
        [p for p in pixel_files if p.name in EXPECTED_FAILURES]
    )


# highdicom 0.28 cannot parse big-endian datasets; their little-endian twins are compared instead.
HIGHDICOM_UNSUPPORTED = {"MR_small_bigendian.dcm", "MR_small_expb.dcm"}


def _greyscale_with_file_window() -> list[Path]:
    out = []
    for path in FILES:
        result = cached_render(path)
        if isinstance(result, ImageError) or path.name in HIGHDICOM_UNSUPPORTED:
            continue
        if result.info.samples_per_pixel == 1 and "file" in result.info.window_choices:
            out.append(path)
    return out


GREY_FILES = _greyscale_with_file_window()


def test_enough_greyscale_files_are_compared() -> None:
    names = {p.name for p in GREY_FILES}
    assert len(GREY_FILES) >= 50
    assert {"RG1_UNCI.dcm", "RG1_J2KR.dcm", "vlut_04.dcm", "693_UNCI.dcm", "MR2_UNCI.dcm"} <= names


@pytest.mark.parametrize("path", GREY_FILES, ids=_id)
def test_greyscale_matches_highdicom_within_one_grey_level(path: Path) -> None:
    ours = cached_render(path, "file")
    assert not isinstance(ours, ImageError)
    if ours.info.decoded_at is not None:
        # A large JPEG 2000 decoded at reduced resolution (test_j2k_reduced.py checks that part
        # bit-exactly); the windowing is compared to highdicom through the full-resolution path.
        assert ours.pixels.shape[1::-1] == ours.info.decoded_at
        ours = full_resolution_render(path, "file")
        assert ours.info.decoded_at is None
    ds = pydicom.dcmread(path)
    reference = highdicom.Image.from_dataset(ds, copy=False).get_frame(
        ours.info.frame_index + 1,
        apply_real_world_transform=False,
        apply_voi_transform=True,
        voi_output_range=(0, 255),
    )
    assert ours.pixels.shape == reference.shape
    assert np.abs(ours.pixels.astype(np.float64) - reference).max() <= 1.0


def test_mlut_18_follows_pydicoms_monotone_modality_lut() -> None:
    # highdicom maps this Modality LUT Sequence wrongly; pydicom is right (docs/dicom.md §7).
    path = data_file("mlut_18.dcm")
    ours = cached_render(path)
    assert not isinstance(ours, ImageError)
    ds = pydicom.dcmread(path)
    values = pydicom.pixels.apply_modality_lut(pydicom.pixels.pixel_array(ds), ds)
    correlation = np.corrcoef(ours.pixels.ravel().astype(float), values.ravel())[0, 1]
    assert correlation > 0.95


@pytest.mark.parametrize(
    ("name", "twin"),
    [("MR_small_bigendian.dcm", "MR_small.dcm"), ("MR_small_expb.dcm", "MR_small.dcm")],
)
def test_big_endian_files_equal_their_little_endian_twins(name: str, twin: str) -> None:
    a, b = cached_render(data_file(name)), cached_render(data_file(twin))
    assert not isinstance(a, ImageError) and not isinstance(b, ImageError)
    assert np.array_equal(a.pixels, b.pixels)
