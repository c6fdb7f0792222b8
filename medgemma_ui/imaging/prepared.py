"""`prepare`: any supported image -> the exact 896×896 JPEG MedGemma receives."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from dataclasses import dataclass
from functools import cached_property

from PIL import Image

from medgemma_ui.settings import ImageLimits

from .dicom_decode import render_dicom
from .encode import encode_jpeg
from .errors import ImageError
from .geometry import TARGET, to_model_square, to_model_square_windowed_after
from .info import ImageInfo
from .raster import render_raster
from .rendered import DEFAULT_OPTIONS, Rendered, RenderOptions
from .sniff import Source, read_source, sniff


@dataclass(frozen=True, eq=False)
class PreparedImage:
    """The image as the model sees it. `image` is decoded from `jpeg` (on first use: the CLI and
    batch analysis never need it), so a preview of it is exactly what is sent."""

    jpeg: bytes
    info: ImageInfo

    @cached_property
    def image(self) -> Image.Image:
        with Image.open(io.BytesIO(self.jpeg)) as decoded:
            decoded.load()
            return decoded if decoded.mode == "RGB" else decoded.convert("RGB")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.jpeg).hexdigest()


def render(source: Source, options: RenderOptions = DEFAULT_OPTIONS) -> Rendered:
    """The 8-bit pixels and info before padding and resizing (tests compare these to highdicom)."""
    data = read_source(source, options.limits)
    try:
        if sniff(data) == "dicom":
            return render_dicom(data, options)
        return render_raster(data, options)
    except ImageError:
        raise
    except MemoryError as exc:
        raise ImageError.out_of_memory() from exc
    except Exception as exc:
        raise ImageError(
            "This image could not be read; the file may be damaged or incomplete, so export it "
            "again.",
            kind="corrupt",
        ) from exc


def prepare(
    source: Source,
    *,
    window: str | None = None,
    frame: int | None = None,
    limits: ImageLimits | None = None,
) -> PreparedImage:
    """Bytes or a path (PNG, JPEG, WebP, TIFF, BMP, GIF or DICOM, sniffed from content) -> the
    padded 896×896 RGB JPEG (≤ 500 KB) sent to MedGemma. Raises ImageError on bad input."""
    return finish(render(source, RenderOptions(window, frame, limits or ImageLimits())))


def finish(rendered: Rendered) -> PreparedImage:
    """Pad, resize and encode rendered pixels; `prepare` is `finish(render(...))`."""
    try:
        if rendered.stored is not None:
            square = to_model_square_windowed_after(rendered.stored)
        else:
            square = to_model_square(rendered.pixels)
        jpeg, quality = encode_jpeg(square)
    except MemoryError as exc:
        raise ImageError.out_of_memory() from exc
    except Exception as exc:
        raise ImageError(
            "The image was read but could not be converted for the model; try another export.",
            kind="corrupt",
        ) from exc
    info = dataclasses.replace(
        rendered.info, size=(TARGET, TARGET), jpeg_quality=quality, jpeg_bytes=len(jpeg)
    )
    return PreparedImage(jpeg=jpeg, info=info)
