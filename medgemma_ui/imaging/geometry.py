"""Zero-pad to a centred square, then resize to the model's 896×896.

The image is resized to its final footprint and then pasted centred on a black 896² canvas: the
same picture as padding first and resizing the padded square (to within the half-pixel rounding
of the centring), without spending time resampling the padding and without the resampling
kernel's ringing bleeding into the black border.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

TARGET = 896


def to_model_square(pixels: np.ndarray, target: int = TARGET) -> Image.Image:
    """uint8 HxW (grey), HxWx3 (RGB) or HxWx4 (RGBX) -> RGB `target`² image. Grey is resized as
    one channel and stacked to RGB last (3× less work)."""
    mode = "L" if pixels.ndim == 2 else ("RGBX" if pixels.shape[-1] == 4 else "RGB")
    image = Image.fromarray(np.ascontiguousarray(pixels), mode)
    width, height = image.size
    side = max(width, height)
    size = (max(1, round(width * target / side)), max(1, round(height * target / side)))
    if side > target:
        factor = side // target
        if factor >= 2:
            image = image.reduce(factor)
        if image.size != size:
            image = image.resize(size, Image.Resampling.LANCZOS)
    elif side < target:
        image = image.resize(size, Image.Resampling.BICUBIC)
    if size != (target, target):
        canvas = Image.new(image.mode, (target, target), 0)
        canvas.paste(image, ((target - size[0]) // 2, (target - size[1]) // 2))
        image = canvas
    return image if image.mode == "RGB" else image.convert("RGB")
