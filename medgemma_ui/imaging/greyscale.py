"""Greyscale DICOM pixels to 8-bit: modality LUT (Enhanced functional groups lifted first) ->
the chosen window -> MONOCHROME1/INVERSE inverted once."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut

from . import windowing
from .errors import ImageError
from .rendered import StoredValues


def lift_functional_groups(ds: Dataset, frame: int) -> None:
    """Copy the rescale and VOI of `frame` from Enhanced functional groups to the top level,
    where pydicom's LUT functions look (pydicom#2353; docs/dicom.md pitfall 5). Per-frame groups
    win over shared ones."""
    groups: list[Dataset] = []
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame and frame < len(per_frame):
        groups.append(per_frame[frame])
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        groups.append(shared[0])
    lifts = (
        ("PixelValueTransformationSequence", ("RescaleSlope", "RescaleIntercept", "RescaleType")),
        (
            "FrameVOILUTSequence",
            (
                "WindowCenter",
                "WindowWidth",
                "WindowCenterWidthExplanation",
                "VOILUTFunction",
                "VOILUTSequence",
            ),
        ),
    )
    for sequence, keywords in lifts:
        for group in groups:
            items = group.get(sequence)
            if items:
                for keyword in keywords:
                    if keyword in items[0]:
                        ds[keyword] = items[0][keyword]
                break


def _inverts(ds: Dataset, photometric: str) -> bool:
    shape = str(ds.get("PresentationLUTShape", "") or "").strip().upper()
    if shape:
        return shape == "INVERSE"
    return photometric == "MONOCHROME1"


def render_grey(
    arr: np.ndarray,
    ds: Dataset,
    window: str | None,
    frame: int,
    warnings: list[str],
) -> tuple[np.ndarray | None, str, list[str], list[dict[str, object]], StoredValues | None]:
    """Modality LUT -> chosen window -> 8-bit, as lookup tables over every stored value when the
    data are integers of at most 16 bits (about 2x faster than pydicom's float path). For the
    three-window CT encoding it also returns the stored values and their table, so that geometry
    resizes one channel and windows after (see geometry.to_model_square_windowed_after)."""
    lift_functional_groups(ds, frame)
    modality = str(ds.get("Modality", "") or "").upper()
    if modality in {"XA", "XRF"} and "ModalityLUTSequence" in ds:
        del ds.ModalityLUTSequence  # not to be applied for XA/XRF: docs/dicom.md pitfall 9
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()

    stored = windowing.file_windows(ds)
    is_ct = modality == "CT"
    ct_choices = [*windowing.MULTI_WINDOWS, *windowing.WINDOW_PRESETS]
    choices = (ct_choices if is_ct else []) + [w.name for w in stored]
    choices.append("auto")
    if window is None:
        window = "medgemma" if is_ct else ("file" if stored else "auto")
    window = "file" if window == "file:1" else window
    if window not in choices:
        known = window in windowing.window_names() or window.startswith("file")
        lead = (
            f"The {window!r} window is not available for this image"
            if known
            else f"Unknown window {window!r}"
        )
        raise ImageError(f"{lead}; choose one of: {', '.join(choices)}.", kind="bad_request")

    if arr.dtype.kind in "ui" and arr.dtype.itemsize <= 2:
        unsigned = np.uint8 if arr.dtype.itemsize == 1 else np.uint16
        arr = np.ascontiguousarray(arr)
        index = arr.view(unsigned)
        size = np.iinfo(unsigned).max + 1
        # Only the stored values this frame spans need a table entry (a CT uses ~4k of 65k).
        low, high = (0, size - 1) if size == 256 else (int(arr.min()), int(arr.max()))
        if arr.dtype.kind == "i" and size == 256:
            low, high = -128, 127
        present = np.arange(low, high + 1).astype(arr.dtype)
        positions = present.view(unsigned)
        values = np.asarray(apply_modality_lut(present, ds), dtype=np.float64)

        def lookup(mapping: windowing.Mapping) -> np.ndarray:
            table = np.zeros(size, dtype=np.uint8)
            table[positions] = mapping(values)
            return table[index]

        def lookup_rgbx(
            mappings: list[windowing.Mapping],
        ) -> tuple[np.ndarray | None, StoredValues | None]:
            table = np.zeros((size, 4), dtype=np.uint8)
            for channel, mapping in enumerate(mappings):
                table[positions, channel] = mapping(values)
            kept = StoredValues(arr.astype(np.float32), table, low, high, arr.dtype)
            # The full-resolution RGBX image is made only if asked for (`Rendered.pixels`):
            # preparing resizes the stored values and applies the table after.
            return None, kept

        def counts() -> np.ndarray | None:
            return np.bincount(index.ravel(), minlength=size)[positions]
    else:
        values = np.asarray(apply_modality_lut(arr, ds), dtype=np.float32)

        def lookup(mapping: windowing.Mapping) -> np.ndarray:
            return mapping(values)

        def lookup_rgbx(
            mappings: list[windowing.Mapping],
        ) -> tuple[np.ndarray | None, StoredValues | None]:
            channels = [mapping(values) for mapping in mappings]
            return np.stack([*channels, np.zeros_like(channels[0])], axis=-1), None

        def counts() -> np.ndarray | None:
            return None

    if window in windowing.MULTI_WINDOWS:
        mappings = [windowing.clip_scale(lo, hi) for lo, hi in windowing.MULTI_WINDOWS[window]]
        pixels, values_for_geometry = lookup_rgbx(mappings)
        return pixels, window, choices, [w.describe() for w in stored], values_for_geometry
    if window in windowing.WINDOW_PRESETS:
        # HU windows keep HU semantics (dense = bright) whatever the photometric says.
        mapping = windowing.preset(*windowing.WINDOW_PRESETS[window])
        return lookup(mapping), window, choices, [w.describe() for w in stored], None
    if window == "auto":
        lo, hi = windowing.percentile_range(values, counts())
        mapping = windowing.auto(lo, hi)
    else:
        chosen = next(w for w in stored if w.name == window)
        mapping = windowing.file_voi(ds, chosen)
    if _inverts(ds, photometric):
        base = mapping

        def mapping(v: np.ndarray) -> np.ndarray:
            return 255 - base(v)

    return lookup(mapping), window, choices, [w.describe() for w in stored], None
