"""What every decoder is asked for (`RenderOptions`) and hands to geometry (`Rendered`: 8-bit
pixels before padding and resizing, plus the non-identifying facts about them); and the limit
and frame checks they share."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from medgemma_ui.settings import ImageLimits

from .colour import gather_rgbx
from .errors import ImageError
from .info import ImageInfo


@dataclass(frozen=True)
class RenderOptions:
    """What a render is asked for: a window by name, a 0-based frame (None: defaults), limits."""

    window: str | None = None
    frame: int | None = None
    limits: ImageLimits = field(default_factory=ImageLimits)

    def __post_init__(self) -> None:  # a bad window or frame is refused here, in a sentence
        object.__setattr__(self, "frame", _frame_number(self.frame))
        if self.window is not None and not isinstance(self.window, str):
            raise ImageError("The window must be given by name, for example 'lung' or 'auto'.")


def _frame_number(frame: object) -> int | None:
    if frame is None:
        return None
    try:
        if isinstance(frame, bool):
            raise TypeError
        value = operator.index(frame)  # type: ignore[arg-type]
    except TypeError:
        raise ImageError("The frame must be a whole number (0 is the first frame).") from None
    if value < 0:
        raise ImageError(
            f"Frame {value} does not exist; frames are numbered from 0.", kind="bad_request"
        )
    return value


# The image's default window, its middle frame (raster pages: the first), the default limits.
DEFAULT_OPTIONS = RenderOptions()


@dataclass(frozen=True)
class StoredValues:
    """A greyscale frame kept in stored values so that geometry can resize it once and window
    after: `values` HxW float32 stored values; `table` (N, 4) uint8 RGBX rows indexed by a stored
    value's unsigned bit pattern (as `dtype`), filled for `low`..`high`."""

    values: np.ndarray
    table: np.ndarray
    low: int
    high: int
    dtype: np.dtype


@dataclass(frozen=True)
class Rendered:
    """Pixels before geometry and the non-identifying facts about them. `pixels` is uint8 HxW
    (grey), HxWx3 (RGB) or HxWx4 (RGBX: the fourth byte is padding, so colour lookups can
    gather one 32-bit word per pixel). When `stored` is set, geometry resizes `stored` and
    applies the table after; `pixels` is then its table applied at full resolution, made only
    when asked for (the preparation never needs it)."""

    given: np.ndarray | None
    info: ImageInfo
    stored: StoredValues | None = None

    @cached_property
    def pixels(self) -> np.ndarray:
        if self.given is not None:
            return self.given
        if self.stored is None:
            raise ValueError("a Rendered needs pixels or stored values")
        stored = self.stored
        unsigned = np.uint8 if stored.dtype.itemsize == 1 else np.uint16
        index = np.rint(stored.values).astype(stored.dtype).view(unsigned)
        return gather_rgbx(stored.table, index)

    @property
    def rgb(self) -> np.ndarray:
        """The pixels with any RGBX padding byte dropped (a view)."""
        return self.pixels[..., :3] if self.pixels.ndim == 3 else self.pixels


def check_limits(rows: int, cols: int, frames: int, limits: ImageLimits) -> None:
    if rows * cols > limits.max_pixels:
        raise ImageError(
            f"This image is {cols} × {rows} pixels ({rows * cols / 1e6:.1f} megapixels), over "
            f"the {limits.max_pixels / 1e6:g}-megapixel limit; upload a smaller export.",
            kind="too_large",
        )
    if frames > limits.max_frames:
        raise ImageError(
            f"This file has {frames} frames, over the {limits.max_frames}-frame limit; "
            "upload a smaller series or a single frame.",
            kind="too_large",
        )


def choose_frame(frame: int | None, count: int, what: str = "file") -> int:
    """The frame to decode: the given one if it exists, else the middle one of `count`."""
    if frame is None:
        return count // 2
    if not 0 <= frame < count:
        last = f"0 to {count - 1}" if count > 1 else "only 0"
        raise ImageError(
            f"Frame {frame} does not exist: this {what} has {count} frame"
            f"{'s' if count > 1 else ''} (numbered {last}).",
            kind="bad_request",
        )
    return frame
