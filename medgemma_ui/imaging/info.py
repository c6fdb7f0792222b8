"""`ImageInfo`: the non-identifying facts about a prepared image, typed and immutable.

Written once by the decoder that read the file, completed by `finish` with what was sent, then
read by the UI, the CLI, the template suggestion and the provenance. It is frozen and holds only
tuples and frozen values, so a cached image can be shared between users safely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class StoredWindow:
    """A window (or VOI LUT) stored in the DICOM file, as offered in the window menu."""

    name: str  # "file", "file:2", ...
    type: str  # "window" or "lut"
    center: float | None = None
    width: float | None = None
    function: str | None = None
    explanation: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _stored_windows(
    windows: Sequence[StoredWindow | Mapping[str, Any]],
) -> tuple[StoredWindow, ...]:
    return tuple(w if isinstance(w, StoredWindow) else StoredWindow(**w) for w in windows)


@dataclass(frozen=True)
class ImageInfo:
    """What the image is (format, modality, size, frame) and how it became the model's input
    (window, the size and quality of the JPEG sent). Never a patient tag or a file name."""

    source_format: str  # "dicom", "png", "jpeg", "webp", "tiff", "bmp" or "gif"
    original_size: tuple[int, int]  # width, height of the stored image
    frame_index: int = 0  # 0-based
    frame_count: int = 1
    modality: str | None = None
    body_part: str | None = None
    view: str | None = None
    sop_class: str | None = None
    bits_stored: int | None = None
    samples_per_pixel: int = 1
    photometric_interpretation: str | None = None
    transfer_syntax: str | None = None
    mode: str | None = None  # Pillow's mode for a raster file
    window: str | None = None  # the window used, None for colour images
    window_choices: tuple[str, ...] = ()
    file_windows: tuple[StoredWindow, ...] = ()  # the windows stored in the file
    decoded_at: tuple[int, int] | None = None  # a reduced JPEG 2000 resolution that was decoded
    warnings: tuple[str, ...] = ()
    # Set by `finish`: the JPEG that is sent.
    size: tuple[int, int] | None = None
    jpeg_quality: int | None = None
    jpeg_bytes: int | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # normalise lists given by decoders into immutable values
        set_(self, "original_size", _pair(self.original_size))
        set_(self, "window_choices", tuple(self.window_choices))
        set_(self, "file_windows", _stored_windows(self.file_windows))
        set_(self, "warnings", tuple(str(w) for w in self.warnings))
        if self.decoded_at is not None:
            set_(self, "decoded_at", _pair(self.decoded_at))
        if self.size is not None:
            set_(self, "size", _pair(self.size))

    @property
    def is_dicom(self) -> bool:
        return self.source_format == "dicom"

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values (lists for tuples), keys in declaration order; unset optional
        decoder facts (`decoded_at`, `file_windows`) are left out."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in {"decoded_at", "file_windows"} and not value:
                continue
            if isinstance(value, tuple):
                value = [v.to_json() if isinstance(v, StoredWindow) else v for v in value]
            out[f.name] = value
        return out


def _pair(value: Sequence[int]) -> tuple[int, int]:
    first, second = value
    return int(first), int(second)
