"""Human labels for the window presets the imaging package offers."""

from __future__ import annotations

_LABELS = {
    "medgemma": "MedGemma CT encoding (3 windows as RGB)",
    "lung": "Lung (W 1500 / L −600)",
    "soft_tissue": "Soft tissue (W 400 / L 40)",
    "bone": "Bone (W 2500 / L 480)",
    "brain": "Brain (W 80 / L 40)",
    "mediastinum": "Mediastinum (W 350 / L 50)",
    "liver": "Liver (W 150 / L 90)",
    "file": "As stored in the file",
    "auto": "Auto contrast (0.5–99.5 percentile)",
}


def window_label(name: str) -> str:
    if name in _LABELS:
        return _LABELS[name]
    if name.startswith("file:"):
        return f"File window {name.split(':', 1)[1]}"
    return name.replace("_", " ").capitalize()


def window_choices(names: list[str]) -> list[tuple[str, str]]:
    return [(window_label(n), n) for n in names]
