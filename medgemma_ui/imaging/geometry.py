"""Zero-pad to a centred square, then resize to the model's 896×896.

The image is resized to its final footprint and then pasted centred on a black 896² canvas: the
same picture as padding first and resizing the padded square (to within the half-pixel rounding
of the centring), without spending time resampling the padding and without the resampling
kernel's ringing bleeding into the black border.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .colour import gather_rgbx
from .rendered import StoredValues

TARGET = 896


def to_model_square(pixels: np.ndarray, target: int = TARGET) -> Image.Image:
    """uint8 HxW (grey), HxWx3 (RGB) or HxWx4 (RGBX) -> `target`² RGB or RGBX image (the JPEG
    encoder takes either). Grey is resized as one channel and stacked to RGB last (3× less
    work)."""
    mode = "L" if pixels.ndim == 2 else ("RGBX" if pixels.shape[-1] == 4 else "RGB")
    image = _pad(_fit(Image.fromarray(np.ascontiguousarray(pixels), mode), target), target)
    return image if image.mode in {"RGB", "RGBX"} else image.convert("RGB")


def to_model_square_windowed_after(stored: StoredValues, target: int = TARGET) -> Image.Image:
    """A multi-window greyscale encoding (MedGemma's three CT windows): the stored values are
    resized once, then rounded, kept within the frame's range (so kernel overshoot cannot reach
    values the frame does not have) and mapped through the RGBX table. Resizing one float
    channel instead of four bytes per pixel takes about half the time."""
    image = _fit(Image.fromarray(np.ascontiguousarray(stored.values, np.float32), "F"), target)
    values = np.clip(np.rint(np.asarray(image)), stored.low, stored.high).astype(stored.dtype)
    unsigned = np.uint8 if stored.dtype.itemsize == 1 else np.uint16
    rgbx = gather_rgbx(stored.table, values.view(unsigned))
    return _pad(Image.fromarray(rgbx, "RGBX"), target)


def footprint(width: int, height: int, target: int = TARGET) -> tuple[int, int, int, int]:
    """Where an image of `width` × `height` lands on the sent `target`² square: its resized
    width and height and the left and top offsets of the centred paste (what `_fit` and `_pad`
    do). Boxes the model gives on the square are mapped back to the image with it."""
    side = max(width, height)
    size = (max(1, round(width * target / side)), max(1, round(height * target / side)))
    return size[0], size[1], (target - size[0]) // 2, (target - size[1]) // 2


def _fit(image: Image.Image, target: int) -> Image.Image:
    """Resized so that its longer side is `target`: reduce + LANCZOS down, BICUBIC up."""
    width, height = image.size
    side = max(width, height)
    size = footprint(width, height, target)[:2]
    if side > target:
        factor = side // target
        if factor >= 2:
            image = image.reduce(factor)
        if image.size != size:
            image = image.resize(size, Image.Resampling.LANCZOS)
    elif side < target:
        image = image.resize(size, Image.Resampling.BICUBIC)
    return image


def _pad(image: Image.Image, target: int) -> Image.Image:
    """Centred on a black `target`² canvas."""
    width, height = image.size
    if (width, height) == (target, target):
        return image
    canvas = Image.new(image.mode, (target, target), 0)
    canvas.paste(image, ((target - width) // 2, (target - height) // 2))
    return canvas
