"""PNG, JPEG (EXIF), WebP, TIFF, BMP, GIF; alpha, palettes, 16-bit; the JPEG budget; refusals."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from medgemma_ui.imaging import ImageError, RenderOptions, prepare, render
from medgemma_ui.settings import ImageLimits


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_exif_orientation_is_applied() -> None:
    stored = np.zeros((30, 60, 3), np.uint8)  # 60 wide, 30 high: red left half, blue right half
    stored[:, :30] = (255, 0, 0)
    stored[:, 30:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90° clockwise
    data = _save(Image.fromarray(stored), "JPEG", exif=exif, quality=95)
    rendered = render(data)
    assert rendered.pixels.shape == (60, 30, 3)
    top, bottom = rendered.pixels[:25].mean(axis=(0, 1)), rendered.pixels[35:].mean(axis=(0, 1))
    assert top[0] > 200 and top[2] < 50  # red is now on top
    assert bottom[2] > 200 and bottom[0] < 50
    assert rendered.info.original_size == (30, 60)
    assert any("EXIF" in w for w in rendered.info.warnings)
    plain = render(_save(Image.fromarray(stored), "JPEG", quality=95))
    assert plain.pixels.shape == (30, 60, 3)
    assert not plain.info.warnings


def test_16_bit_greyscale_png_is_scaled_by_its_range() -> None:
    values = np.linspace(1000, 5000, 200 * 100).astype(np.uint16).reshape(100, 200)
    image = Image.fromarray(values)
    assert image.mode.startswith("I;16")
    rendered = render(_save(image, "PNG"))
    assert rendered.info.source_format == "png"
    assert rendered.info.bits_stored == 16
    assert rendered.info.window == "range"
    assert rendered.info.window_choices == ("range", "auto")
    g = rendered.pixels
    assert g.dtype == np.uint8 and g.ndim == 2
    assert g.min() == 0 and g.max() == 255
    assert np.all(np.diff(g.ravel().astype(int)) >= 0)
    assert any("16-bit" in w for w in rendered.info.warnings)
    assert render(_save(image, "PNG"), RenderOptions(window="auto")).info.window == "auto"
    with pytest.raises(ImageError, match="range, auto"):
        render(_save(image, "PNG"), RenderOptions(window="lung"))


def test_rgba_is_composited_onto_black() -> None:
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[:, :5] = (255, 255, 255, 0)  # transparent white -> black
    rgba[:, 5:] = (255, 0, 0, 128)  # half-transparent red -> dark red
    rendered = render(_save(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert rendered.info.mode == "RGBA"
    assert rendered.pixels[0, 0].tolist() == [0, 0, 0]
    assert rendered.pixels[0, 9].tolist() == [128, 0, 0]


def test_grey_with_alpha_is_composited_onto_black() -> None:
    la = Image.fromarray(
        np.dstack([np.full((4, 4), 200, np.uint8), np.full((4, 4), 51, np.uint8)]), "LA"
    )
    rendered = render(_save(la, "PNG"))
    assert rendered.pixels.ndim == 2
    assert rendered.pixels[0, 0] == 40


def test_palette_png_with_and_without_transparency() -> None:
    indices = np.array([[0, 1], [2, 1]], np.uint8)
    image = Image.fromarray(indices, "P")
    image.putpalette([10, 20, 30, 200, 0, 0, 0, 255, 0] + [0] * (253 * 3))
    rendered = render(_save(image, "PNG"))
    assert rendered.info.mode == "P"
    assert rendered.pixels[0, 0].tolist() == [10, 20, 30]
    assert rendered.pixels[1, 0].tolist() == [0, 255, 0]
    transparent = render(_save(image, "PNG", transparency=1))
    assert transparent.pixels[0, 1].tolist() == [0, 0, 0]
    assert transparent.pixels[0, 0].tolist() == [10, 20, 30]


@pytest.mark.parametrize(("fmt", "name"), [("WEBP", "webp"), ("TIFF", "tiff"), ("BMP", "bmp")])
def test_other_raster_formats(fmt: str, name: str) -> None:
    rgb = np.zeros((40, 80, 3), np.uint8)
    rgb[:, :, 1] = 180
    options = {"lossless": True} if fmt == "WEBP" else {}
    prepared = prepare(_save(Image.fromarray(rgb), fmt, **options))
    assert prepared.info.source_format == name
    assert prepared.info.original_size == (80, 40)
    centre = np.asarray(prepared.image)[448, 448]
    assert abs(int(centre[1]) - 180) <= 3 and centre[0] <= 3
    top = np.asarray(prepared.image)[50, 448]
    assert top.max() <= 3  # zero padding above the wide image


def test_multiframe_gif_and_tiff_pick_a_frame() -> None:
    frames = [Image.new("L", (8, 8), v) for v in (0, 120, 250)]
    gif = _save(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert render(gif).info.frame_index == 0
    assert render(gif).info.frame_count == 3
    assert abs(int(np.asarray(render(gif, RenderOptions(frame=2)).pixels).mean()) - 250) <= 2
    with pytest.raises(ImageError, match="Frame 3 does not exist"):
        render(gif, RenderOptions(frame=3))
    tiff = _save(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    assert int(render(tiff, RenderOptions(frame=1)).pixels.mean()) == 120


def test_noise_fits_under_500_kb() -> None:
    noise = np.random.default_rng(0).integers(0, 256, (896, 896, 3), dtype=np.uint8)
    prepared = prepare(_save(Image.fromarray(noise), "PNG"))
    assert len(prepared.jpeg) <= 500_000
    assert prepared.info.jpeg_quality < 95
    assert prepared.info.jpeg_bytes == len(prepared.jpeg)


def test_preview_pixels_equal_the_decoded_jpeg() -> None:
    gradient = np.linspace(0, 255, 300 * 500 * 3).astype(np.uint8).reshape(300, 500, 3)
    prepared = prepare(_save(Image.fromarray(gradient), "PNG"))
    decoded = Image.open(io.BytesIO(prepared.jpeg))
    assert decoded.format == "JPEG" and decoded.size == (896, 896)
    assert np.array_equal(np.asarray(prepared.image), np.asarray(decoded.convert("RGB")))
    import hashlib

    assert prepared.sha256 == hashlib.sha256(prepared.jpeg).hexdigest()


def test_downscale_pads_and_centres() -> None:
    tall = np.full((1800, 600), 255, np.uint8)
    image = np.asarray(prepare(_save(Image.fromarray(tall), "PNG")).image)
    assert image.shape == (896, 896, 3)
    row = image[448, :, 0].astype(int)
    bright = np.flatnonzero(row > 128)
    assert abs(bright[0] - 299) <= 2 and abs(bright[-1] - 597) <= 2  # 600/1800*896 ≈ 299 wide


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_decompression_bomb_png_is_refused_before_decoding() -> None:
    data = _png_header_only(20_000, 10_000)  # 200 megapixels declared in a ~100-byte file
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(ImageError, match=r"20000 × 10000 pixels \(200.0 megapixels\)") as caught:
        prepare(data)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert caught.value.kind == "too_large"
    assert elapsed < 0.5
    assert peak < 5_000_000
    # Below Pillow's own bomb threshold but above ours: still our refusal, not a Pillow warning.
    with pytest.raises(ImageError, match="megapixel limit"):
        prepare(_png_header_only(1000, 1000), limits=ImageLimits(max_pixels=500_000))


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (b"Patient has a cough.\nPlease review.\n" * 10, "text, not an image"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "PDF document"),
        (b"PK\x03\x04" + b"\0" * 200, "ZIP archive"),
        (b"", "empty"),
        (bytes(range(256)) * 4, "not a recognised image"),
    ],
)
def test_non_images_are_refused_in_one_sentence(data: bytes, pattern: str) -> None:
    with pytest.raises(ImageError, match=pattern) as caught:
        prepare(data)
    message = str(caught.value)
    assert message.endswith(".") and "\n" not in message and "Traceback" not in message


def test_truncated_png_is_refused() -> None:
    noise = np.random.default_rng(1).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    data = _save(Image.fromarray(noise), "PNG")
    with pytest.raises(ImageError, match="damaged or incomplete") as caught:
        prepare(data[: len(data) // 2])
    assert caught.value.kind == "corrupt"
    assert caught.value.__cause__ is not None


def test_paths_and_bad_sources(tmp_path) -> None:
    path = tmp_path / "photo.dcm"  # the name lies: content decides
    path.write_bytes(_save(Image.new("RGB", (10, 10), (1, 2, 3)), "PNG"))
    assert prepare(str(path)).info.source_format == "png"
    assert prepare(path).info.source_format == "png"
    with pytest.raises(ImageError, match="could not be read"):
        prepare(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="folder"):
        prepare(tmp_path)
    with pytest.raises(ImageError, match="bytes"):
        prepare(12345)  # type: ignore[arg-type]
    with pytest.raises(ImageError, match="choose no window"):
        prepare(path, window="lung")


def test_raster_info_is_complete_and_json_safe() -> None:
    import json

    info = prepare(_save(Image.new("L", (30, 20), 9), "PNG")).info
    data = json.loads(json.dumps(info.to_json()))
    for key in (
        "source_format",
        "modality",
        "body_part",
        "view",
        "original_size",
        "bits_stored",
        "photometric_interpretation",
        "transfer_syntax",
        "window",
        "window_choices",
        "frame_index",
        "frame_count",
        "warnings",
        "mode",
    ):
        assert key in data
    assert info.mode == "L" and info.original_size == (30, 20)
    assert data["original_size"] == [30, 20] and data["size"] == [896, 896]


def test_later_tiff_page_is_checked_against_the_pixel_limit() -> None:
    pages = [Image.new("L", (10, 10), 1), Image.new("L", (1000, 1000), 2)]
    tiff = _save(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    limits = ImageLimits(max_pixels=10_000)
    assert render(tiff, RenderOptions(limits=limits)).info.frame_count == 2
    with pytest.raises(ImageError, match=r"1000 × 1000 pixels"):
        render(tiff, RenderOptions(frame=1, limits=limits))
