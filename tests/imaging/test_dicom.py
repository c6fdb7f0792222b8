"""Specific DICOM behaviour: polarity, colour, HU, windows, frames, limits, refusals, privacy."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import highdicom
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import pixel_array

from medgemma_ui.imaging import (
    WINDOW_PRESETS,
    ImageError,
    RenderOptions,
    finish,
    prepare,
    render,
    window_names,
)
from medgemma_ui.imaging.dicom_decode import _decode_error
from medgemma_ui.settings import ImageLimits

from .helpers import cached_render, data_file, make_dicom

EXAMPLES = Path(__file__).resolve().parents[2] / "medgemma_ui" / "templates" / "data" / "examples"


def _ok(name: str, window: str | None = None):
    result = cached_render(data_file(name), window)
    assert not isinstance(result, ImageError), str(result)
    return result


def test_monochrome1_chest_radiograph_has_dark_lungs() -> None:
    rendered = _ok("RG1_UNCI.dcm")
    assert rendered.info.photometric_interpretation == "MONOCHROME1"
    g = rendered.pixels.astype(float)
    h, w = g.shape
    # PA chest: lung fields either side of the midline, mediastinum/spine in the middle.
    lungs = np.concatenate(
        [
            g[h // 3 : h // 2, w // 5 : w // 3].ravel(),
            g[h // 3 : h // 2, 2 * w // 3 : 4 * w // 5].ravel(),
        ]
    )
    mediastinum = g[h // 3 : h // 2, 9 * w // 20 : 11 * w // 20]
    assert lungs.mean() + 40 < mediastinum.mean()
    # And the polarity agrees with highdicom's presentation (not inverted relative to it).
    ds = pydicom.dcmread(data_file("RG1_UNCI.dcm"))
    reference = highdicom.Image.from_dataset(ds, copy=False).get_frame(
        1, apply_voi_transform=True, voi_output_range=(0, 255)
    )
    assert np.corrcoef(g.ravel()[::97], reference.ravel()[::97])[0, 1] > 0.99


def test_ybr_ultrasound_is_not_converted_twice() -> None:
    rendered = _ok("examples_ybr_color.dcm")
    assert rendered.info.photometric_interpretation == "YBR_FULL_422"
    mean = rendered.rgb.reshape(-1, 3).mean(axis=0)
    # A mostly grey ultrasound: a second YBR->RGB conversion turns it green (mean G >> R, B).
    assert abs(mean[0] - mean[1]) < 10 and abs(mean[1] - mean[2]) < 10
    assert mean.mean() > 5


@pytest.mark.parametrize(
    "name",
    [
        "SC_ybr_full_uncompressed.dcm",
        "SC_ybr_full_422_uncompressed.dcm",
        "SC_rgb_dcmtk_+eb+cy+n1.dcm",
        "SC_rgb_dcmtk_+eb+cy+s2.dcm",
        "SC_rgb_jpeg_gdcm.dcm",
        "SC_rgb_gdcm_KY.dcm",
        "SC_rgb_rle_16bit.dcm",
        "SC_rgb_32bit.dcm",
    ],
)
def test_colour_encodings_match_the_plain_rgb_file(name: str) -> None:
    reference = _ok("SC_rgb.dcm").rgb.astype(int)
    other = _ok(name).rgb.astype(int)
    assert other.shape == reference.shape
    assert np.abs(other - reference).mean() < 4


@pytest.mark.parametrize("name", ["US1_J2KI.dcm", "US1_J2KR.dcm"])
def test_j2k_colour_ultrasound_matches_uncompressed(name: str) -> None:
    reference = _ok("US1_UNCR.dcm").rgb.astype(int)
    assert np.abs(_ok(name).rgb.astype(int) - reference).mean() < 3


@pytest.mark.parametrize("name", ["OBXXXX1A.dcm", "examples_palette.dcm"])
def test_palette_colour_matches_highdicom(name: str) -> None:
    rendered = _ok(name)
    assert rendered.info.photometric_interpretation == "PALETTE COLOR"
    ds = pydicom.dcmread(data_file(name))
    reference = highdicom.Image.from_dataset(ds, copy=False).get_frame(1)
    assert np.abs(rendered.rgb.astype(float) - np.floor(reference / 256)).max() <= 1
    assert rendered.rgb.std() > 10


def test_segmented_16_bit_palette_decodes_and_matches_its_big_endian_twin() -> None:
    # highdicom does not implement segmented palettes, so the big-endian copy is the cross-check.
    little, big = _ok("gdcm-US-ALOKA-16.dcm"), _ok("gdcm-US-ALOKA-16_big.dcm")
    assert np.array_equal(little.rgb, big.rgb)
    assert little.rgb.std() > 10
    spread = little.rgb.reshape(-1, 3).astype(int)
    assert (np.abs(spread[:, 0] - spread[:, 2]) > 20).mean() > 0.001  # real colour present


def test_enhanced_ct_hu_come_from_functional_groups() -> None:
    rendered = _ok("eCT_Supplemental.dcm")
    assert rendered.info.window == "medgemma"
    red = rendered.rgb[..., 0].astype(float)
    # Air outside the body is about -1000 HU -> R close to 0 (it would be ~128 if the rescale in
    # the functional groups were ignored).
    assert red[:20, :20].mean() < 10
    ds = pydicom.dcmread(data_file("eCT_Supplemental.dcm"))
    hu = highdicom.Image.from_dataset(ds, copy=False).get_frame(
        rendered.info.frame_index + 1, apply_real_world_transform=False
    )
    assert hu[:20, :20].mean() < -900
    expected = np.rint((np.clip(hu, -1024, 1024) + 1024) * 255 / 2048)
    assert np.array_equal(red, expected)


def _hu_ramp() -> tuple[np.ndarray, bytes]:
    stored = np.tile(np.arange(0, 2400, dtype=np.uint16), (4, 1))  # HU -1024 .. 1375
    data = make_dicom(
        stored, modality="CT", RescaleIntercept=-1024, RescaleSlope=1, RescaleType="HU"
    )
    return stored.astype(np.float64) - 1024, data


def test_medgemma_ct_channels_on_a_synthetic_hu_ramp() -> None:
    hu, data = _hu_ramp()
    rendered = render(data)
    assert rendered.info.window == "medgemma"
    for channel, (lo, hi) in enumerate([(-1024, 1024), (-135, 215), (0, 80)]):
        expected = np.rint((np.clip(hu, lo, hi) - lo) / (hi - lo) * 255)
        assert np.array_equal(rendered.rgb[..., channel], expected), channel
    row = rendered.rgb[0]
    assert row[hu[0] == -1024].tolist() == [[0, 0, 0]]
    assert row[hu[0] == 40].tolist() == [
        [np.rint(1064 / 2048 * 255), np.rint(175 / 350 * 255), 128]
    ]


def test_medgemma_ct_is_resized_in_hu_and_windowed_after() -> None:
    """The three-window encoding resizes the HU once and windows after, as a CT viewer does when
    it zooms: an air/bone step seen through the 0-80 HU window stays a sharp edge at the step
    instead of a ramp of interpolated saturated values, while the wide window keeps its ramp."""
    stored = np.zeros((64, 64), np.uint16)
    stored[:, 32:] = 2024  # HU -1024 | 1000
    data = make_dicom(stored, modality="CT", RescaleIntercept=-1024, RescaleSlope=1)
    square = np.asarray(prepare(data).image).astype(int)
    row = square[448]
    brain, wide = row[:, 2], row[:, 0]
    assert brain[:400].max() <= 2 and brain[500:].min() >= 253  # flat away from the edge
    assert np.count_nonzero((brain > 16) & (brain < 239)) <= 4  # sharp through a narrow window
    assert np.count_nonzero((wide > 16) & (wide < 239)) >= 8  # the HU ramp itself is gradual
    assert abs(int(np.argmax(brain > 127)) - 448) <= 3  # and the edge sits at the step


@pytest.mark.parametrize(("name", "bound"), [("ct_head.dcm", 2.0), ("CT_small.dcm", 3.0)])
def test_windowing_after_the_resize_changes_little_on_real_ct(name: str, bound: float) -> None:
    """Against windowing first and resizing the 8-bit channels (the order before): measured mean
    differences 0.8 (512² slice, 1.75× upscale) and 1.4 grey levels (128², 7×: only edges seen
    through the 80 HU window sharpen). A wrong table index, a lost sign or swapped channels would
    move the mean by tens of levels."""
    path = EXAMPLES / name if (EXAMPLES / name).exists() else data_file(name)
    rendered = render(path)
    assert rendered.stored is not None
    after = np.asarray(prepare(path).image).astype(int)
    before = np.asarray(finish(replace(rendered, given=rendered.pixels, stored=None)).image)
    before = before.astype(int)
    assert np.abs(after - before).mean() < bound
    for channel in range(3):
        assert abs(after[..., channel].mean() - before[..., channel].mean()) < bound


@pytest.mark.parametrize("name", list(WINDOW_PRESETS))
def test_ct_presets_are_single_windows_in_hu(name: str) -> None:
    hu, data = _hu_ramp()
    level, width = WINDOW_PRESETS[name]
    rendered = render(data, RenderOptions(window=name))
    assert rendered.pixels.ndim == 2
    expected = np.rint(
        (np.clip(hu, level - width / 2, level + width / 2) - (level - width / 2)) / width * 255
    )
    assert np.array_equal(rendered.pixels, expected)


def test_window_names_and_choices() -> None:
    assert window_names() == (
        "medgemma",
        "medgemma-1",
        "lung",
        "soft_tissue",
        "bone",
        "brain",
        "mediastinum",
        "liver",
        "file",
        "auto",
    )
    ct = _ok("693_UNCI.dcm")
    assert ct.info.window_choices[:8] == tuple(window_names()[:8])
    assert "file" in ct.info.window_choices and "auto" in ct.info.window_choices
    mr = _ok("MR_small.dcm")
    assert mr.info.window == "file"
    assert mr.info.window_choices == ("file", "auto")
    emri = _ok("emri_small.dcm")
    assert emri.info.window == "auto"


def test_several_file_windows_are_listed_and_selectable() -> None:
    rendered = _ok("examples_overlay.dcm")
    assert [w.name for w in rendered.info.file_windows] == ["file", "file:2"]
    assert rendered.info.window_choices == ("file", "file:2", "auto")
    second = render(data_file("examples_overlay.dcm"), RenderOptions(window="file:2"))
    assert second.info.window == "file:2"
    assert not np.array_equal(second.pixels, rendered.pixels)
    ds = pydicom.dcmread(data_file("examples_overlay.dcm"))
    reference = highdicom.Image.from_dataset(ds, copy=False).get_frame(
        1, apply_voi_transform=True, voi_transform_selector=1, voi_output_range=(0, 255)
    )
    assert np.abs(second.pixels - reference).max() <= 1


def test_auto_window_spans_the_percentiles() -> None:
    rendered = render(data_file("MR_small.dcm"), RenderOptions(window="auto"))
    assert rendered.info.window == "auto"
    g = rendered.pixels
    assert g.min() == 0 and g.max() == 255
    assert 0.001 < (g == 255).mean() < 0.02


def test_unknown_window_lists_valid_ones() -> None:
    with pytest.raises(ImageError, match=r"Unknown window 'sharp'.*medgemma, medgemma-1, lung"):
        render(data_file("693_UNCI.dcm"), RenderOptions(window="sharp"))
    with pytest.raises(ImageError, match=r"'lung' window is not available.*file, auto"):
        render(data_file("MR_small.dcm"), RenderOptions(window="lung"))
    with pytest.raises(ImageError, match="colour image"):
        render(data_file("US1_UNCR.dcm"), RenderOptions(window="auto"))


def max_difference(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def test_multiframe_default_explicit_and_out_of_range_frames() -> None:
    path = data_file("color3d_jpeg_baseline.dcm")
    default = render(path)
    assert default.info.frame_count == 120
    assert default.info.frame_index == 60
    assert any("120 frames" in w for w in default.info.warnings)
    ds = pydicom.dcmread(path)
    # YBR -> RGB is done once by Pillow, not by pydicom's numpy code: the two round differently
    # by at most one level (a second conversion would be off by tens to hundreds).
    assert max_difference(default.pixels, pixel_array(ds, index=60)) <= 1
    first = render(path, RenderOptions(frame=0))
    assert first.info.frame_index == 0
    assert max_difference(first.pixels, pixel_array(ds, index=0)) <= 1
    assert not np.array_equal(first.pixels, default.pixels)
    with pytest.raises(ImageError, match=r"Frame 120 does not exist.*0 to 119"):
        render(path, RenderOptions(frame=120))
    with pytest.raises(ImageError, match="numbered from 0"):
        render(path, RenderOptions(frame=-1))


def test_enhanced_mr_frame_selection() -> None:
    path = data_file("emri_small.dcm")
    frames = [render(path, RenderOptions(frame=k)).pixels for k in (0, 9)]
    assert render(path).info.frame_index == 5
    assert not np.array_equal(*frames)


def test_limits_are_checked_before_decoding() -> None:
    data = data_file("MR_small.dcm").read_bytes()
    with pytest.raises(ImageError, match=r"64 × 64 pixels.*limit") as caught:
        prepare(data, limits=ImageLimits(max_pixels=1000))
    assert caught.value.kind == "too_large"
    with pytest.raises(ImageError, match=r"120 frames, over the 10-frame limit"):
        prepare(data_file("color3d_jpeg_baseline.dcm"), limits=ImageLimits(max_frames=10))
    with pytest.raises(ImageError, match=r"over the 1 KB limit"):
        prepare(data, limits=ImageLimits(max_bytes=1024))
    with pytest.raises(ImageError, match=r"over the 1 KB limit"):
        prepare(data_file("MR_small.dcm"), limits=ImageLimits(max_bytes=1024))


def test_missing_decoder_names_the_syntax_and_package() -> None:
    with pytest.raises(ImageError) as caught:
        prepare(data_file("JPGExtended.dcm"))
    message = str(caught.value)
    assert "JPEG Extended" in message and "pylibjpeg-libjpeg" in message
    assert caught.value.kind == "decoder_missing"
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_truncated_dicom_is_refused() -> None:
    data = data_file("693_UNCI.dcm").read_bytes()
    with pytest.raises(ImageError, match=r"incomplete|damaged|truncated") as caught:
        prepare(data[: len(data) // 2])
    assert caught.value.kind == "corrupt"


def test_dicom_without_pixels_names_what_it_is() -> None:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.Modality = "SR"
    ds.PatientName = "Doe^Jane"
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    with pytest.raises(ImageError, match="structured report") as caught:
        prepare(buffer.getvalue())
    assert caught.value.kind == "no_pixels"
    assert "Doe" not in str(caught.value)
    with pytest.raises(ImageError, match="DICOMDIR"):
        prepare(data_file("dicomdirtests/DICOMDIR"))
    with pytest.raises(ImageError, match="RT structure set"):
        prepare(data_file("rtstruct.dcm"))


def test_unsupported_photometric_interpretation() -> None:
    data = make_dicom(np.zeros((8, 8), np.uint8), photometric="HSV")
    with pytest.raises(ImageError, match=r"HSV.*not supported") as caught:
        prepare(data)
    assert caught.value.kind == "unsupported"


def test_burned_in_annotation_warns() -> None:
    data = make_dicom(np.zeros((8, 8), np.uint8), BurnedInAnnotation="YES")
    assert any("BurnedInAnnotation" in w for w in prepare(data).info.warnings)
    quiet = make_dicom(np.zeros((8, 8), np.uint8), BurnedInAnnotation="NO")
    assert not any("BurnedInAnnotation" in w for w in prepare(quiet).info.warnings)


def test_info_holds_no_identifying_tags() -> None:
    pixels = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    data = make_dicom(
        pixels,
        modality="DX",
        PatientName="Doe^Jane",
        PatientID="MRN-99887766",
        PatientBirthDate="19700101",
        StudyDate="20240102",
        InstitutionName="St Elsewhere Hospital",
        AccessionNumber="ACC12345",
        StudyInstanceUID="1.2.3.4.5.6.7.8",
        BodyPartExamined="CHEST",
        ViewPosition="PA",
        WindowCenter=2000,
        WindowWidth=4000,
    )
    prepared = prepare(data)
    dumped = json.dumps(prepared.info.to_json())
    for secret in ("Doe", "Jane", "99887766", "19700101", "20240102", "Elsewhere", "ACC12345"):
        assert secret not in dumped
    assert "1.2.3.4.5.6.7.8" not in dumped
    assert prepared.info.body_part == "CHEST"
    assert prepared.info.view == "PA"
    assert prepared.info.modality == "DX"
    assert prepared.info.original_size == (64, 64)
    assert prepared.info.bits_stored == 16
    assert prepared.info.transfer_syntax == "Explicit VR Little Endian"


def test_dicom_without_preamble_is_sniffed_from_content(tmp_path) -> None:
    data = make_dicom(np.full((16, 16), 7, np.uint8), preamble=False)
    assert data[128:132] != b"DICM"
    path = tmp_path / "no_extension_at_all"
    path.write_bytes(data)
    assert prepare(path).info.source_format == "dicom"


def test_monochrome1_with_inverse_is_inverted_exactly_once() -> None:
    pixels = np.tile(np.arange(256, dtype=np.uint8), (2, 1))
    mono1 = render(make_dicom(pixels, photometric="MONOCHROME1", modality="CR")).pixels
    mono2 = render(make_dicom(pixels, photometric="MONOCHROME2", modality="CR")).pixels
    inverse = render(
        make_dicom(pixels, photometric="MONOCHROME1", modality="CR", PresentationLUTShape="INVERSE")
    ).pixels
    identity = render(
        make_dicom(
            pixels, photometric="MONOCHROME1", modality="CR", PresentationLUTShape="IDENTITY"
        )
    ).pixels
    assert np.array_equal(mono1, 255 - mono2)
    assert np.array_equal(inverse, mono1)
    assert np.array_equal(identity, mono2)


def test_xa_modality_lut_sequence_is_not_applied() -> None:
    pixels = np.tile(np.arange(0, 256, dtype=np.uint8), (2, 1))
    lut = Dataset()
    lut.LUTDescriptor = [256, 0, 16]
    lut.ModalityLUTType = "US"
    lut.add_new("LUTData", "OW", np.arange(255, -1, -1, dtype="<u2").tobytes())  # reversing
    auto = RenderOptions(window="auto")
    xa = render(make_dicom(pixels, modality="XA", ModalityLUTSequence=[lut]), auto)
    ot = render(make_dicom(pixels, modality="OT", ModalityLUTSequence=[lut]), auto)
    assert xa.pixels[0, 0] < xa.pixels[0, -1]
    assert ot.pixels[0, 0] > ot.pixels[0, -1]


def test_no_gpl_decoder_is_installed() -> None:
    import importlib.metadata
    import importlib.util

    assert importlib.util.find_spec("libjpeg") is None
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version("pylibjpeg-libjpeg")


def test_damaged_compressed_stream_is_reported_as_damaged() -> None:
    ds = pydicom.dcmread(io.BytesIO(make_dicom(np.zeros((8, 8), np.uint8))))
    ds.file_meta.TransferSyntaxUID = pydicom.uid.JPEGLosslessSV1
    ds.PixelData = pydicom.encaps.encapsulate([b"\xff\xd8\xff\xc3" + b"\0" * 60])
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    with pytest.raises(ImageError, match=r"JPEG Lossless.*could not be decoded") as caught:
        prepare(buffer.getvalue())
    assert caught.value.kind == "corrupt"


def test_missing_plugin_message_names_the_syntax_and_packages() -> None:
    ds = pydicom.dcmread(io.BytesIO(make_dicom(np.zeros((8, 8), np.uint8))))
    ds.file_meta.TransferSyntaxUID = pydicom.uid.JPEGLosslessSV1
    # pydicom's wording when no plugin for a syntax is installed (docs/dicom.md pitfall 1).
    exc = RuntimeError(
        "Unable to decompress 'JPEG Lossless, Non-Hierarchical, First-Order Prediction' pixel "
        "data because all plugins are missing dependencies:\n"
        "    gdcm - requires gdcm>=3.0.10\n"
        "    pylibjpeg - requires pylibjpeg>=2.0 and pylibjpeg-libjpeg>=2.1"
    )
    error = _decode_error(exc, ds, 8)
    assert error.kind == "decoder_missing"
    message = str(error)
    assert "JPEG Lossless, Non-Hierarchical" in message
    assert "gdcm or pylibjpeg" in message
    assert message.count(".") >= 1 and "\n" not in message


def test_file_1_is_the_first_file_window_and_single_frames_have_only_frame_0() -> None:
    path = data_file("examples_overlay.dcm")
    assert np.array_equal(render(path, RenderOptions(window="file:1")).pixels, render(path).pixels)
    assert render(path, RenderOptions(frame=0)).info.frame_index == 0
    with pytest.raises(ImageError, match=r"Frame 1 does not exist.*numbered only 0"):
        render(path, RenderOptions(frame=1))


def test_ybr_full_is_converted_once_like_pydicom() -> None:
    for name in ("SC_ybr_full_uncompressed.dcm", "examples_ybr_color.dcm"):
        path = data_file(name)
        ds = pydicom.dcmread(path)
        rendered = render(path)
        count = int(ds.get("NumberOfFrames", 1) or 1)
        index = rendered.info.frame_index if count > 1 else None
        expected = pixel_array(ds, index=index)  # pydicom's own single conversion
        assert max_difference(rendered.rgb, expected) <= 1, name


def test_medgemma_1_ct_encoding_uses_its_own_three_windows() -> None:
    """MedGemma 1's windows (issue #27: WW/WL 2250/-100, 350/40, 80/40) differ from 1.5's in the
    red channel only: -1225..1025 HU instead of -1024..1024."""
    ds = pydicom.dcmread(data_file("CT_small.dcm"))
    hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    v15 = render(data_file("CT_small.dcm"), RenderOptions(window="medgemma")).rgb
    v1 = render(data_file("CT_small.dcm"), RenderOptions(window="medgemma-1")).rgb
    expected_red = np.rint((np.clip(hu, -1225, 1025) + 1225) / 2250 * 255)
    assert np.array_equal(v1[..., 0], expected_red.astype(np.uint8))
    assert np.array_equal(v1[..., 1:], v15[..., 1:])
    assert not np.array_equal(v1[..., 0], v15[..., 0])
