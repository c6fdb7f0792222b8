"""Fuzzing `prepare` with mutated real DICOM, PNG and JPEG files (issue 8, item 4).

Every case must end within 5 s with a PreparedImage (896×896 RGB, JPEG ≤ 500 KB) or an ImageError:
no other exception, no hang, memory bounded. Hypothesis is derandomized and has no example
database, so CI runs the same cases every time. Run with `-s` to see the outcome counts.
"""

from __future__ import annotations

import io
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from medgemma_ui.imaging import ImageError, prepare
from medgemma_ui.settings import ImageLimits
from tests.hardening.fuzzing import (
    CASE_SECONDS,
    DICOM_SEEDS,
    Tally,
    check_case,
    dicom_seed,
    flip_bytes,
    insert,
    overwrite_dicom,
    overwrite_jpeg_size,
    overwrite_png_header,
    overwrite_transfer_syntax,
    peak_rss_bytes,
    png_chunk,
    raster_seeds,
    reset_peak_rss,
    rss_bytes,
    truncate,
)

# How far the test process's peak RSS may rise above what it held when a fuzz test started (the
# full suite's process already holds gradio, torch and the earlier tests' data by then).
MEMORY_CAP = 1536 * 1024 * 1024


def fuzz_settings(n: int):
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,  # the tally accumulates across inputs on purpose
        ],
    )


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    """Counts outcomes, prints them, and checks the case count and the memory peak."""
    reset_peak_rss()
    start = rss_bytes()
    t = Tally()
    yield t
    peak = peak_rss_bytes() - start
    print("\n" + t.report(request.node.name) + f"\n  peak RSS rise {peak / 2**20:.0f} MB")
    assert peak < MEMORY_CAP, f"peak RSS rose {peak / 2**20:.0f} MB"
    expected = request.node.get_closest_marker("cases").args[0]
    assert t.cases >= expected, f"only {t.cases} of {expected} cases ran"
    # The mutations must exercise both outcomes, or the fuzzing is not reaching the decoders.
    assert t.prepared > 0
    assert t.cases - t.prepared > 0


# --- mutation strategies -------------------------------------------------------------------------

fraction = st.floats(0.0, 1.0, exclude_max=True, allow_nan=False)
garbage = st.binary(min_size=1, max_size=64)


@st.composite
def byte_mutation(draw: st.DrawFn, data: bytes) -> bytes:
    """Flips (biased to the header, where the structure is), truncation or inserted garbage."""
    how = draw(st.sampled_from(["flip-header", "flip-anywhere", "truncate", "insert"]))
    if how == "truncate":
        return truncate(data, draw(fraction))
    if how == "insert":
        return insert(data, draw(fraction), draw(garbage))
    scale = min(1.0, 1500 / len(data)) if how == "flip-header" else 1.0
    flips = draw(
        st.lists(st.tuples(fraction.map(lambda f: f * scale), st.integers(0, 255)), max_size=12)
    )
    return flip_bytes(data, flips or [(0.5 * scale, 0xFF)])


ABSURD_HEADER_VALUES: dict[str, list[object]] = {
    "Rows": [0, 1, 3, 513, 4096, 30000, 65535],
    "Columns": [0, 1, 3, 513, 4096, 30000, 65535],
    "NumberOfFrames": ["0", "1", "2", "31", "4999", "5001", "1000000", "-1", None],
    "BitsAllocated": [0, 1, 7, 12, 16, 32, 64, 65535],
    "BitsStored": [0, 1, 17, 33, 64, 65535],
    "HighBit": [0, 64, 65535],
    "SamplesPerPixel": [0, 1, 2, 3, 4, 65535],
    "PixelRepresentation": [0, 1, 2],
    "PlanarConfiguration": [0, 1, 7],
    "PhotometricInterpretation": [
        "MONOCHROME1",
        "MONOCHROME2",
        "RGB",
        "YBR_FULL",
        "YBR_FULL_422",
        "YBR_ICT",
        "PALETTE COLOR",
        "CMYK",
        "",
    ],
    "RescaleSlope": ["0", "-1", "1e300", "1e-300", None],
    "RescaleIntercept": ["-1e300", "32768", None],
    "WindowCenter": ["0", "-1e30", "1e30", None],
    "WindowWidth": ["0", "-1", "1e-30", "1e30", None],
    "Modality": ["CT", "MR", "XA", "CR", "SR", ""],
    "PresentationLUTShape": ["INVERSE", "IDENTITY", "BOGUS"],
    "PixelData": [None],
}
TRANSFER_SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    ExplicitVRBigEndian,
    DeflatedExplicitVRLittleEndian,
    RLELossless,
    JPEG2000,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    JPEGLosslessSV1,  # only gdcm reads it (isolated in a child process)
    "1.2.3.4.5",
]


@st.composite
def header_mutation(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(DICOM_SEEDS))
    keywords = draw(
        st.lists(st.sampled_from(sorted(ABSURD_HEADER_VALUES)), min_size=1, max_size=3, unique=True)
    )
    changes = {k: draw(st.sampled_from(ABSURD_HEADER_VALUES[k])) for k in keywords}
    data = overwrite_dicom(dicom_seed(name), changes)
    if draw(st.booleans()):
        data = overwrite_transfer_syntax(data, draw(st.sampled_from(TRANSFER_SYNTAXES)))
    if draw(st.integers(0, 3)) == 0:
        data = draw(byte_mutation(data))
    return f"{name} {changes}", data


SIZES = [0, 1, 2, 7, 640, 4096, 7745, 20000, 65535, 2**31 - 1]


@st.composite
def raster_mutation(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(raster_seeds())))
    data = raster_seeds()[name]
    how = draw(st.sampled_from(["bytes", "bytes", "geometry"]))
    if how == "geometry":
        width, height = draw(st.sampled_from(SIZES)), draw(st.sampled_from(SIZES))
        if name.startswith("png"):
            depth = draw(st.sampled_from([None, None, 1, 2, 4, 8, 16, 3, 0]))
            colour = draw(st.sampled_from([None, None, 0, 2, 3, 4, 6, 5]))
            data = overwrite_png_header(data, width, height, depth, colour)
        else:
            data = overwrite_jpeg_size(data, min(width, 65535), min(height, 65535))
        if draw(st.booleans()):
            data = draw(byte_mutation(data))
        return f"{name} {how} {width}x{height}", data
    return f"{name} {how}", draw(byte_mutation(data))


# --- the fuzz tests (200 + 200 + 150 = 550 cases) ------------------------------------------------


@pytest.mark.cases(200)
@fuzz_settings(200)
@given(name=st.sampled_from(DICOM_SEEDS), data=st.data())
def test_fuzz_dicom_bytes(tally: Tally, name: str, data: st.DataObject) -> None:
    mutated = data.draw(byte_mutation(dicom_seed(name)))
    check_case(mutated, tally)


@pytest.mark.cases(200)
@fuzz_settings(200)
@given(case=header_mutation(), frame=st.sampled_from([None, None, None, 0, 1, 29]))
def test_fuzz_dicom_headers(tally: Tally, case: tuple[str, bytes], frame: int | None) -> None:
    check_case(case[1], tally, frame=frame)


@pytest.mark.cases(150)
@fuzz_settings(150)
@given(case=raster_mutation())
def test_fuzz_png_and_jpeg(tally: Tally, case: tuple[str, bytes]) -> None:
    check_case(case[1], tally)


# --- specific hostile inputs ---------------------------------------------------------------------


def _timed_error(data: bytes, seconds: float = 1.0, **kwargs: object) -> ImageError:
    reset_peak_rss()
    before = peak_rss_bytes()
    start = time.perf_counter()
    with pytest.raises(ImageError) as caught:
        prepare(data, **kwargs)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    assert elapsed < seconds, f"took {elapsed:.2f} s"
    grown = peak_rss_bytes() - before
    assert grown < 64 * 2**20, f"allocated {grown / 2**20:.0f} MB before refusing"
    return caught.value


def _bomb_png(width: int, height: int) -> bytes:
    """A real, valid 1-bit PNG of zeros: tiny on disk, `width × height` pixels when decoded."""
    row = b"\x00" + bytes((width + 7) // 8)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def test_200_megapixel_png_header_is_refused_before_decoding() -> None:
    data = overwrite_png_header(raster_seeds()["png-rgb"], 20000, 10000)
    error = _timed_error(data)
    assert error.kind == "too_large"
    assert str(error) == (
        "This image is 20000 × 10000 pixels (200.0 megapixels), over the 60-megapixel limit; "
        "upload a smaller export."
    )


def test_decompression_bomb_png_is_refused_before_decoding() -> None:
    bomb = _bomb_png(10000, 10000)  # 100 MP, valid, ~20 KB on disk
    assert len(bomb) < 50_000
    with Image.open(io.BytesIO(bomb)) as im:  # it really is a valid image of that size
        assert im.size == (10000, 10000)
    error = _timed_error(bomb)
    assert error.kind == "too_large"
    assert "100.0 megapixels" in str(error)


def test_bomb_under_a_lower_configured_limit_is_refused() -> None:
    bomb = _bomb_png(3000, 3000)  # 9 MP: fine by default, refused at a 4 MP limit
    error = _timed_error(bomb, limits=ImageLimits(max_pixels=4_000_000))
    assert error.kind == "too_large"
    assert "over the 4-megapixel limit" in str(error)


def test_large_but_allowed_png_bomb_is_prepared_in_time() -> None:
    bomb = _bomb_png(7000, 7000)  # 49 MP, under the 60 MP default
    reset_peak_rss()
    before = rss_bytes()
    start = time.perf_counter()
    prepared = prepare(bomb)
    assert time.perf_counter() - start < 5.0
    assert prepared.image.size == (896, 896)
    assert peak_rss_bytes() - before < MEMORY_CAP


def test_dicom_declaring_65535_by_65535_is_refused() -> None:
    data = overwrite_dicom(dicom_seed("CT_small.dcm"), {"Rows": 65535, "Columns": 65535})
    error = _timed_error(data)
    assert error.kind == "too_large"
    assert str(error).startswith("This image is 65535 × 65535 pixels (4294.8 megapixels)")


def test_dicom_declaring_a_million_frames_is_refused() -> None:
    data = overwrite_dicom(dicom_seed("examples_ybr_color.dcm"), {"NumberOfFrames": "1000000"})
    error = _timed_error(data)
    assert error.kind == "too_large"
    assert str(error) == (
        "This file has 1000000 frames, over the 5000-frame limit; upload a smaller series or a "
        "single frame."
    )


def test_zero_byte_file(tmp_path) -> None:
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    for source in (b"", empty):
        error = _timed_error(source)
        assert str(error) == "The file is empty; upload the image again."
        assert error.kind == "not_image"


@pytest.mark.parametrize("name", ["CT_small.dcm", "693_J2KI.dcm", "examples_ybr_color.dcm"])
def test_truncated_dicom(name: str) -> None:
    data = dicom_seed(name)
    error = _timed_error(data[: len(data) - 200])
    assert error.kind == "corrupt"
    assert "export" in str(error) or "copy" in str(error)


@pytest.mark.parametrize("name", ["png-rgb", "jpeg-rgb"])
def test_truncated_raster(name: str) -> None:
    data = raster_seeds()[name]
    error = _timed_error(data[: len(data) // 2])
    assert error.kind == "corrupt"
    assert str(error) == (
        "This image file is damaged or incomplete and cannot be decoded; export it again."
    )


# --- regressions for what the fuzzing found ------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "changes"),
    [
        # python-gdcm used to abort the whole process (uncaught C++ exception) on these.
        ("JPGLosslessP14SV1_1s_1f_8b.dcm", {"BitsAllocated": 32}),
        ("JPEG-LL.dcm", {"BitsAllocated": 32}),
        ("emri_small_jpeg_ls_lossless.dcm", {"Columns": 4096}),
    ],
)
def test_decoder_that_aborts_the_process_is_isolated(seed: str, changes: dict) -> None:
    error = _timed_error(overwrite_dicom(dicom_seed(seed), changes), seconds=CASE_SECONDS)
    assert error.kind == "corrupt"
    # ...and this process is still alive to run the next line: a good file still decodes.
    assert prepare(dicom_seed("JPGLosslessP14SV1_1s_1f_8b.dcm")).image.size == (896, 896)


def test_charls_slow_failure_is_cut_short() -> None:
    """A 10 KB mutation of MR_small_jpeg_ls_lossless.dcm that CharLS took 8-15 s to reject."""
    data = (Path(__file__).parent / "data" / "charls_slow_failure.dcm").read_bytes()
    error = _timed_error(data, seconds=CASE_SECONDS)
    assert error.kind == "corrupt"
    assert "JPEG-LS" in str(error)
