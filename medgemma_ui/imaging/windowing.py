"""Window names and the greyscale value -> 8-bit mappings (MedGemma CT RGB, presets, file VOI,
percentile). Every mapping works on a 1-D array of modality values, so callers can apply it to a
lookup table over all stored values instead of to every pixel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_voi_lut

# MedGemma 1.5's own CT encoding (Google-Health/medgemma notebooks/high_dimensional_ct_hugging_face
# .ipynb, "Define windowing for CT images"): one HU window per RGB channel.
MEDGEMMA_CT_WINDOWS: tuple[tuple[float, float], ...] = (
    (-1024.0, 1024.0),
    (-135.0, 215.0),
    (0.0, 80.0),
)

# MedGemma 1's CT encoding, selectable as "medgemma-1" (WW/WL 2250/-100, 350/40 and 80/40, given
# by a maintainer in Google-Health/medgemma issue #27). Google's serving code
# (python/data_accessors/local_file_handlers/generic_dicom_handler.py) has a MedGemma 1 default
# with a 135..215 green channel instead of -135..215; we follow the maintainer's statement.
MEDGEMMA_1_CT_WINDOWS: tuple[tuple[float, float], ...] = (
    (-1225.0, 1025.0),
    (-135.0, 215.0),
    (0.0, 80.0),
)

# The three-windows-as-RGB encodings, by window name (per model version; "medgemma" is 1.5's).
MULTI_WINDOWS: dict[str, tuple[tuple[float, float], ...]] = {
    "medgemma": MEDGEMMA_CT_WINDOWS,
    "medgemma-1": MEDGEMMA_1_CT_WINDOWS,
}

# name -> (level, width) in HU, for reading CT (OHIF presets; mediastinum W350/L50).
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "soft_tissue": (40.0, 400.0),
    "bone": (480.0, 2500.0),
    "brain": (40.0, 80.0),
    "mediastinum": (50.0, 350.0),
    "liver": (90.0, 150.0),
}

AUTO_PERCENTILES = (0.5, 99.5)


def window_names() -> tuple[str, ...]:
    """Every window name `prepare` understands (the file's own windows may add "file:2", ...)."""
    return (*MULTI_WINDOWS, *WINDOW_PRESETS, "file", "auto")


@dataclass(frozen=True)
class FileWindow:
    """One VOI stored in the file: a VOI LUT Sequence item or a Window Center/Width pair."""

    name: str
    lut_item: Dataset | None
    center: float | None
    width: float | None
    function: str | None
    explanation: str | None

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "type": "lut" if self.lut_item else "window"}
        if self.lut_item is None:
            out["center"] = self.center
            out["width"] = self.width
            if self.function:
                out["function"] = self.function
        if self.explanation:
            out["explanation"] = self.explanation[:64]
        return out


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return list(value)  # type: ignore[call-overload]
    return [value]


def file_windows(ds: Dataset) -> list[FileWindow]:
    """The VOIs stored in `ds` (after functional groups were lifted), LUTs first."""
    found: list[tuple[Dataset | None, float | None, float | None, str | None, str | None]] = []
    for item in ds.get("VOILUTSequence") or []:
        if "LUTDescriptor" in item and "LUTData" in item:
            found.append((item, None, None, None, _text(item.get("LUTExplanation"))))
    centers = _as_list(ds.get("WindowCenter"))
    widths = _as_list(ds.get("WindowWidth"))
    explanations = _as_list(ds.get("WindowCenterWidthExplanation"))
    function = _text(ds.get("VOILUTFunction")) or None
    for i, (c, w) in enumerate(zip(centers, widths, strict=False)):
        try:
            center, width = float(c), float(w)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if width <= 0 or not np.isfinite(center) or not np.isfinite(width):
            continue
        expl = _text(explanations[i]) if i < len(explanations) else None
        found.append((None, center, width, function, expl))
    names = ["file"] + [f"file:{i}" for i in range(2, len(found) + 1)]
    return [FileWindow(n, *f) for n, f in zip(names, found, strict=False)]


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


Mapping = Callable[[np.ndarray], np.ndarray]


def clip_scale(lo: float, hi: float) -> Mapping:
    """Values lo..hi -> 0..255, clipped, rounded half to even (MedGemma's convention)."""

    def apply(values: np.ndarray) -> np.ndarray:
        x = np.clip(values, lo, hi)
        return np.rint((x - lo) / (hi - lo) * 255.0).astype(np.uint8)

    return apply


def preset(level: float, width: float) -> Mapping:
    return clip_scale(level - width / 2.0, level + width / 2.0)


def file_voi(ds: Dataset, window: FileWindow) -> Mapping:
    """The file's own VOI, scaled by its true output range (probed, not assumed to be 8-bit:
    docs/dicom.md pitfall 3)."""
    voi = Dataset()
    if hasattr(ds, "file_meta"):
        voi.file_meta = ds.file_meta
    if ds.original_encoding[1] is not None:
        voi.set_original_encoding(*ds.original_encoding)
    for keyword in (
        "PhotometricInterpretation",
        "BitsStored",
        "PixelRepresentation",
        "RescaleSlope",
        "RescaleIntercept",
        "ModalityLUTSequence",
    ):
        if keyword in ds:
            voi[keyword] = ds[keyword]
    if window.lut_item is not None:
        voi.VOILUTSequence = [window.lut_item]
    else:
        voi.WindowCenter = window.center
        voi.WindowWidth = window.width
        if window.function:
            voi.VOILUTFunction = window.function

    def run(values: np.ndarray) -> np.ndarray:
        if window.lut_item is not None:
            # A VOI LUT indexes integer inputs; pydicom warns (and truncates) on floats.
            values = np.rint(values).astype(np.int64)
        return np.asarray(apply_voi_lut(values, voi, index=0, prefer_lut=True), dtype=np.float64)

    lo, hi = run(np.array([-1e9, 1e9]))

    def apply(values: np.ndarray) -> np.ndarray:
        y = run(values)
        if hi == lo:
            return np.zeros(y.shape, dtype=np.uint8)
        g = np.rint((y - lo) * (255.0 / (hi - lo)))
        return np.clip(g, 0, 255).astype(np.uint8)

    return apply


def percentile_range(values: np.ndarray, counts: np.ndarray | None = None) -> tuple[float, float]:
    """The 0.5th and 99.5th percentiles of `values` (each weighted by `counts` when given),
    widened to min..max when they coincide."""
    if counts is None:
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return 0.0, 0.0
        lo, hi = np.percentile(finite, AUTO_PERCENTILES)
        if hi <= lo:
            lo, hi = float(finite.min()), float(finite.max())
        return float(lo), float(hi)
    present = counts > 0
    v, c = values[present], counts[present]
    order = np.argsort(v, kind="stable")
    v, cum = v[order], np.cumsum(c[order])
    total = cum[-1]
    lo = v[
        np.searchsorted(cum, total * AUTO_PERCENTILES[0] / 100.0, side="right").clip(max=v.size - 1)
    ]
    hi = v[
        np.searchsorted(cum, total * AUTO_PERCENTILES[1] / 100.0, side="left").clip(max=v.size - 1)
    ]
    if hi <= lo:
        lo, hi = v[0], v[-1]
    return float(lo), float(hi)


def auto(lo: float, hi: float) -> Mapping:
    if hi <= lo:
        return lambda values: np.zeros(np.shape(values), dtype=np.uint8)
    return clip_scale(lo, hi)
