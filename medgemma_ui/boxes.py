"""Localisation boxes: the model's `[y0, x0, y1, x1]` on the 0–1000 square it was shown, mapped
back to pixels of the original image (undoing the centred padding and the scaling), and the
overlap of a clinician's corrected box with the model's.

MedGemma 1.5's localisation recipe (Google-Health/medgemma, cxr_anatomy_localization notebook)
pads the image to a centred square first; this app sends exactly such a square (896²), so the
normalised coordinates refer to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from medgemma_ui.imaging.geometry import TARGET, footprint

SCALE = 1000.0  # the model's coordinates run from 0 to 1000


@dataclass(frozen=True)
class Box:
    label: str
    box_2d: tuple[float, float, float, float]  # the model's [y0, x0, y1, x1], 0-1000
    xyxy: tuple[float, float, float, float]  # [x0, y0, x1, y1] in pixels of the original image

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "box_2d": list(self.box_2d), "xyxy": list(self.xyxy)}

    def on_square(self, side: int = TARGET) -> tuple[int, int, int, int]:
        """[x0, y0, x1, y1] in pixels of the sent square (for drawing on the preview)."""
        y0, x0, y1, x1 = (v / SCALE * side for v in self.box_2d)
        return round(x0), round(y0), round(x1), round(y1)


def to_pixels(
    box_2d: Sequence[float], original_size: tuple[int, int]
) -> tuple[float, float, float, float]:
    """The model's [y0, x0, y1, x1] (0–1000 on the sent square) -> [x0, y0, x1, y1] in pixels of
    the original image, clamped to it."""
    width, height = original_size
    fit_w, fit_h, left, top = footprint(width, height)
    y0, x0, y1, x1 = (float(v) / SCALE * TARGET for v in box_2d)

    def x(v: float) -> float:
        return round(min(max((v - left) * width / fit_w, 0.0), float(width)), 1)

    def y(v: float) -> float:
        return round(min(max((v - top) * height / fit_h, 0.0), float(height)), 1)

    return x(min(x0, x1)), y(min(y0, y1)), x(max(x0, x1)), y(max(y0, y1))


def from_pixels(
    xyxy: Sequence[float], original_size: tuple[int, int]
) -> tuple[float, float, float, float]:
    """[x0, y0, x1, y1] in original pixels -> [y0, x0, y1, x1] on the 0–1000 sent square."""
    width, height = original_size
    fit_w, fit_h, left, top = footprint(width, height)
    x0, y0, x1, y1 = (float(v) for v in xyxy)

    def nx(v: float) -> float:
        return round((v * fit_w / width + left) / TARGET * SCALE, 1)

    def ny(v: float) -> float:
        return round((v * fit_h / height + top) / TARGET * SCALE, 1)

    return ny(y0), nx(x0), ny(y1), nx(x1)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two [x0, y0, x1, y1] boxes (0 when they do not overlap)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return round(inter / area, 4) if area > 0 else 0.0


def boxes_from_answer(
    data: dict[str, Any] | None, original_size: tuple[int, int]
) -> tuple[list[Box], list[str]]:
    """The boxes in a parsed answer (`{"boxes": [{"box_2d", "label"}]}`) and, for each that
    cannot be used, one plain sentence."""
    boxes: list[Box] = []
    problems: list[str] = []
    items = (data or {}).get("boxes") or []
    for number, item in enumerate(items, 1):
        raw = item.get("box_2d") if isinstance(item, dict) else None
        if not (
            isinstance(raw, list)
            and len(raw) == 4
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)
        ):
            problems.append(f"Box {number} is not four numbers [y0, x0, y1, x1].")
            continue
        if not all(0 <= v <= SCALE for v in raw):
            problems.append(f"Box {number} has coordinates outside 0–1000.")
            continue
        label = str(item.get("label") or "").strip() or f"box {number}"
        box_2d = (float(raw[0]), float(raw[1]), float(raw[2]), float(raw[3]))
        boxes.append(Box(label, box_2d, to_pixels(box_2d, original_size)))
    return boxes, problems
