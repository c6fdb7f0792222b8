"""Human labels for the window presets the imaging package offers (values come from there)."""

from __future__ import annotations

from medgemma_ui.imaging.windowing import AUTO_PERCENTILES, WINDOW_PRESETS

# The window choice that means "this image's default" (the API's default; imaging's None).
DEFAULT_WINDOW = "default"

_FIXED = {
    DEFAULT_WINDOW: "Default for this image",
    "medgemma": "MedGemma 1.5 CT encoding (3 windows as RGB)",
    "medgemma-1": "MedGemma 1 CT encoding (3 windows as RGB)",
    "file": "As stored in the file",
    "auto": f"Auto contrast ({AUTO_PERCENTILES[0]:g}–{AUTO_PERCENTILES[1]:g} percentile)",
}


def _number(value: float) -> str:
    return f"{value:g}".replace("-", "−")


def window_label(name: str) -> str:
    if name in _FIXED:
        return _FIXED[name]
    title = name.replace("_", " ").capitalize()
    if name in WINDOW_PRESETS:
        center, width = WINDOW_PRESETS[name]
        return f"{title} (W {_number(width)} / L {_number(center)})"
    if name.startswith("file:"):
        return f"File window {name.split(':', 1)[1]}"
    return title


def window_choices(names: list[str]) -> list[tuple[str, str]]:
    return [(window_label(n), n) for n in names]


def window_argument(choice: str | None) -> str | None:
    """The dropdown's value as `prepare(window=...)` takes it."""
    return None if not choice or choice == DEFAULT_WINDOW else choice
