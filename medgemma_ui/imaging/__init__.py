"""Bytes in -> PreparedImage out: the exact 896×896 JPEG MedGemma receives. No UI, no network."""

from .errors import ImageError
from .info import ImageInfo
from .prepared import PreparedImage, finish, prepare, render
from .rendered import RenderOptions
from .windowing import MEDGEMMA_CT_WINDOWS, WINDOW_PRESETS, window_names

__all__ = [
    "MEDGEMMA_CT_WINDOWS",
    "WINDOW_PRESETS",
    "ImageError",
    "ImageInfo",
    "PreparedImage",
    "RenderOptions",
    "finish",
    "prepare",
    "render",
    "window_names",
]
