"""Large greyscale JPEG 2000 frames decoded at reduced resolution (imaging/j2k_reduced.py), checked
against pylibjpeg-openjpeg's full-resolution decode of the same real files."""

from __future__ import annotations

import io
from pathlib import Path
from unittest import mock

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import get_frame
from pydicom.pixels import pixel_array

from medgemma_ui.imaging import j2k_reduced, prepare, render

from .helpers import all_files, data_file, full_resolution_render, has_pixel_data


def _full_decode(path: Path) -> tuple[pydicom.Dataset, np.ndarray]:
    ds = pydicom.dcmread(path)
    return ds, pixel_array(ds, decoding_plugin="pylibjpeg")


def _codestream(ds: pydicom.Dataset) -> tuple[bytes, j2k_reduced.Codestream]:
    count = int(ds.get("NumberOfFrames", 1) or 1)
    frame = get_frame(ds.PixelData, 0, number_of_frames=count)
    header = j2k_reduced.parse_codestream(frame)
    assert header is not None
    return frame, header


def _lowpass_53(x: np.ndarray, axis: int) -> np.ndarray:
    """The low-pass half of one reversible 5/3 analysis step along `axis` (ISO/IEC 15444-1
    F.4.8.2 lifting, whole-sample symmetric extension), on a tile starting at 0."""
    x = np.moveaxis(x.astype(np.int64), axis, 0)
    n = x.shape[0]
    ext = np.concatenate([x[2:0:-1], x, x[n - 2 : n - 4 : -1]])  # ext[i + 2] = x[i]
    even = np.arange(0, n, 2) + 2
    left = ext[even - 1] - ((ext[even - 2] + ext[even]) >> 1)
    right = ext[even + 1] - ((ext[even] + ext[even + 2]) >> 1)
    return np.moveaxis(ext[even] + ((left + right + 2) >> 2), 0, axis)


def _ll_band(values: np.ndarray, level: int, precision: int, signed: bool) -> np.ndarray:
    """The level-`level` LL band a lossless decoder reconstructs: rows first, then columns (the
    order of 15444-1's 2D_SD), clipped to the component's range as openjpeg does."""
    for _ in range(level):
        values = _lowpass_53(_lowpass_53(values, 0), 1)
    if signed:
        return np.clip(values, -(1 << (precision - 1)), (1 << (precision - 1)) - 1)
    return np.clip(values, 0, (1 << precision) - 1)


def test_large_lossless_chest_is_decoded_at_level_1_and_is_the_exact_ll_band() -> None:
    path = data_file("RG1_J2KR.dcm")  # 1841 × 1955, 15-bit, MONOCHROME1, 5 levels
    ds, full = _full_decode(path)
    _, header = _codestream(ds)
    assert (header.width, header.height, header.precision, header.levels) == (1841, 1955, 15, 5)
    # (1955 >> 1) = 977 >= 896 > (1955 >> 2); r = 2 would also be refused by Pillow's rounding.
    assert j2k_reduced.reduce_level(1841, 1955, header.levels) == 1
    reduced = j2k_reduced.decode_reduced(ds, 0, 1)
    assert reduced is not None and reduced.dtype == full.dtype == np.uint16
    assert reduced.shape == (978, 921)
    # Pillow's 16-bit scaling undone exactly: the values are the integer 5/3 LL band of the
    # full-resolution openjpeg decode, bit for bit.
    assert np.array_equal(reduced, _ll_band(full, 1, 15, signed=False))

    info = render(path).info
    assert info.decoded_at == (921, 978)
    assert info.original_size == (1841, 1955)


def test_reduced_decode_agrees_with_2x_area_average_of_the_full_decode() -> None:
    # The LL band is a 5-tap low-pass (-1 2 6 2 -1)/8 centred on even pixels; the area average
    # is a 2-tap box centred between them, the downscale the pipeline did before (`reduce(2)`).
    # They differ at edges and in fine noise. Measured on RG1_J2KR, in stored values of a
    # 15-bit image whose window is 30000 wide: mean 91.3 (0.78 grey level), 99th percentile
    # 414 (3.5 grey levels). A wrong precision shift or level gives differences in the thousands.
    ds, full = _full_decode(data_file("RG1_J2KR.dcm"))
    reduced = j2k_reduced.decode_reduced(ds, 0, 1)
    assert reduced is not None
    padded = np.pad(full, ((0, full.shape[0] % 2), (0, full.shape[1] % 2)), mode="edge")
    h, w = padded.shape
    area = padded.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    diff = np.abs(reduced - area)
    assert diff.mean() <= 100
    assert np.percentile(diff, 99) <= 450
    # DC gain 1: the means differ by 2.8 (integer lifting's rounding) in 7390, not by a factor.
    assert abs(float(reduced.mean() - area.mean())) <= 4


def _decoded(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("L"), dtype=np.float64)


def test_prepared_jpeg_agrees_with_the_uncompressed_twin() -> None:
    # RG1_UNCR holds the same stored values as RG1_J2KR uncompressed (RG1_UNCI is the decoded
    # lossy RG1_J2KI: mean 50 stored values away). Measured on the sent 896² JPEGs: mean
    # absolute difference 0.80 grey level, 99th percentile 4 (edges; the LL band sits half a
    # full-resolution pixel from the box average). Before, the two were bit-identical.
    ours = prepare(data_file("RG1_J2KR.dcm"))
    twin = prepare(data_file("RG1_UNCR.dcm"))
    assert ours.info.decoded_at == (921, 978) and twin.info.decoded_at is None
    diff = np.abs(_decoded(ours.jpeg) - _decoded(twin.jpeg))
    assert diff.mean() <= 1.0
    assert np.percentile(diff, 99) <= 5
    same = ("original_size", "bits_stored", "photometric_interpretation", "window", "warnings")
    assert {k: getattr(ours.info, k) for k in same} == {k: getattr(twin.info, k) for k in same}


def _grey_j2k_files() -> list[Path]:
    out = []
    for path in all_files():
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:
            continue
        ts = getattr(ds, "file_meta", pydicom.Dataset()).get("TransferSyntaxUID")
        broken = path.name == "JPEG2000-embedded-sequence-delimiter.dcm"  # a negative test file
        grey = int(ds.get("SamplesPerPixel", 1) or 1) == 1
        if ts in j2k_reduced.SYNTAXES and grey and not broken and has_pixel_data(path):
            out.append(path)
    return out


GREY_J2K = _grey_j2k_files()


def test_the_corpus_has_signed_and_sign_mismatched_j2k() -> None:
    names = {p.name for p in GREY_J2K}
    assert {"693_J2KR.dcm", "J2K_pixelrep_mismatch.dcm", "RG1_J2KR.dcm"} <= names
    assert len(GREY_J2K) >= 12


@pytest.mark.parametrize("path", GREY_J2K, ids=lambda p: p.name)
def test_pillow_values_equal_openjpeg_full_decode(path: Path) -> None:
    # At level 0 the only difference left is the value mapping: Pillow's container scaling,
    # the signed offset and pydicom's J2K sign correction, for every signedness in the corpus
    # (693_J2KR: signed 14-bit in 16 bits; J2K_pixelrep_mismatch: unsigned codestream, signed
    # dataset; RG1: unsigned 15-bit; lossy 9/7 files too).
    ds, full = _full_decode(path)
    frame, header = _codestream(ds)
    ours = j2k_reduced.decode_codestream(frame, header, 0, ds)
    first = full[0] if full.ndim == 3 else full
    assert ours.dtype == first.dtype
    assert np.array_equal(ours, first)


@pytest.mark.parametrize(("name", "level"), [("693_J2KR.dcm", 1), ("693_J2KR.dcm", 2)])
def test_signed_codestream_at_reduced_level_is_the_exact_ll_band(name: str, level: int) -> None:
    # No signed file in the wheels is large enough to be reduced in `prepare`; the decode itself
    # is driven directly at levels 1 and 2 on this signed 14-bit lossless CT.
    ds, full = _full_decode(data_file(name))
    frame, header = _codestream(ds)
    assert header.signed and int(ds.PixelRepresentation) == 1
    ours = j2k_reduced.decode_codestream(frame, header, level, ds)
    assert ours.dtype == np.int16 and ours.shape == (512 >> level, 512 >> level)
    assert np.array_equal(ours, _ll_band(full, level, header.precision, signed=True))


@pytest.mark.parametrize("name", ["RG3_J2KR.dcm", "RG3_J2KI.dcm", "MR2_J2KR.dcm", "693_J2KR.dcm"])
def test_smaller_j2k_is_decoded_in_full_exactly_as_before(name: str) -> None:
    # RG3 is 1760², under 2 × 896: decoded in full, bit-identical to the pipeline without the
    # reduced decode.
    path = data_file(name)
    ds = pydicom.dcmread(path)
    assert j2k_reduced.decode_reduced(ds, 0, 1) is None
    now, before = render(path), full_resolution_render(path)
    assert now.info.decoded_at is None
    assert now.info == before.info
    assert np.array_equal(now.pixels, before.pixels)


def test_pillow_failure_falls_back_to_the_full_decode() -> None:
    path = data_file("RG1_J2KR.dcm")
    with mock.patch.object(j2k_reduced.Image, "open", side_effect=OSError("broken data stream")):
        fallen_back = render(path)
    assert fallen_back.info.decoded_at is None
    assert np.array_equal(fallen_back.pixels, full_resolution_render(path).pixels)
    assert np.array_equal(fallen_back.pixels, render(data_file("RG1_UNCR.dcm")).pixels)


def test_reduce_level_rules() -> None:
    assert j2k_reduced.reduce_level(1841, 1955, 5) == 1
    assert j2k_reduced.reduce_level(1760, 1760, 5) == 0  # under 2 × 896
    assert j2k_reduced.reduce_level(4096, 4096, 5) == 2  # 1024 >= 896 > 512
    assert j2k_reduced.reduce_level(4096, 4096, 1) == 1  # capped by the decomposition levels
    assert j2k_reduced.reduce_level(4096, 4096, 0) == 0
    # 3585 = 4·896 + 1: Pillow would size r = 2 as 896, openjpeg as 897, so r = 1.
    assert j2k_reduced.reduce_level(3585, 3584, 5) == 1
    assert j2k_reduced.reduce_level(3587, 3584, 5) == 2  # both round up: 897


def test_codestream_parser_reads_cod_and_refuses_what_it_does_not_handle() -> None:
    ds = pydicom.dcmread(data_file("RG1_J2KR.dcm"))
    frame, header = _codestream(ds)
    assert header == j2k_reduced.Codestream(1841, 1955, 15, False, 5)
    cod = frame.index(b"\xff\x52")
    fewer = bytearray(frame)
    fewer[cod + 9] = 0  # a codestream without decomposition levels cannot be reduced
    parsed = j2k_reduced.parse_codestream(bytes(fewer))
    assert parsed is not None and parsed.levels == 0
    assert j2k_reduced.reduce_level(parsed.width, parsed.height, parsed.levels) == 0
    assert j2k_reduced.parse_codestream(frame[:200]) is None  # truncated before a tile-part
    assert j2k_reduced.parse_codestream(b"\x00\x00\x00\x0cjP  \r\n\x87\n" + frame) is None  # JP2
    three = bytearray(frame)
    three[40:42] = (3).to_bytes(2, "big")  # Csiz
    assert j2k_reduced.parse_codestream(bytes(three)) is None
