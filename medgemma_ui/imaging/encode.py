"""The JPEG that is sent: quality 95 with 4:4:4 chroma, stepped down until it fits."""

from __future__ import annotations

import io

from PIL import Image

MAX_JPEG_BYTES = 500_000
QUALITIES = (95, 90, 85, 80, 75, 70, 60, 50, 40, 30, 20)


def encode_jpeg(image: Image.Image, max_bytes: int = MAX_JPEG_BYTES) -> tuple[bytes, int]:
    """Return (JPEG bytes, quality used). 4:4:4 because 4:2:0 smears MedGemma's CT channels
    (docs/dicom.md pitfall 7)."""
    for quality in QUALITIES:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality, subsampling=0)
        if buffer.tell() <= max_bytes:
            return buffer.getvalue(), quality
    raise AssertionError("an 896² JPEG at quality 20 is always under 500 KB")
