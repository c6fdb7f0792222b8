"""Zero-pad to a centred square, then resize to the model's 896×896."""

from __future__ import annotations

import numpy as np
from PIL import Image

TARGET = 896


def to_model_square(pixels: np.ndarray, target: int = TARGET) -> Image.Image:
    """uint8 HxW (grey) or HxWx3 -> RGB `target`² image. Grey is resized as one channel and
    stacked to RGB last (3× less work)."""
    image = Image.fromarray(pixels, "L" if pixels.ndim == 2 else "RGB")
    width, height = image.size
    side = max(width, height)
    if width != height:
        square = Image.new(image.mode, (side, side), 0)
        square.paste(image, ((side - width) // 2, (side - height) // 2))
        image = square
    if side > target:
        factor = side // target
        if factor >= 2:
            image = image.reduce(factor)
        if image.size != (target, target):
            image = image.resize((target, target), Image.Resampling.LANCZOS)
    elif side < target:
        image = image.resize((target, target), Image.Resampling.BICUBIC)
    return image if image.mode == "RGB" else image.convert("RGB")
