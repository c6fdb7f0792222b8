"""Pure text formatting for the UI: no Gradio, no I/O, so it is unit-testable."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from medgemma_ui.imaging import ImageInfo
from medgemma_ui.ui.window_labels import window_label

_FACT_LABELS = (
    ("source_format", "Format"),
    ("modality", "Modality"),
    ("body_part", "Body part"),
    ("view", "View"),
    ("original_size", "Original size"),
    ("bits_stored", "Bits stored"),
    ("photometric_interpretation", "Photometric"),
    ("transfer_syntax", "Transfer syntax"),
    ("window", "Window"),
)


def _fact_value(key: str, value: Any) -> str:
    if key == "original_size" and isinstance(value, list | tuple) and len(value) == 2:
        return f"{value[0]} × {value[1]} px"
    if key == "source_format":
        return str(value).upper()
    if key == "window":
        return window_label(str(value))
    return str(value)


def image_facts_markdown(info: ImageInfo) -> str:
    """A two-column table of the non-identifying facts in `PreparedImage.info`."""
    rows = ["| Image facts | |", "|---|---|"]
    for key, label in _FACT_LABELS:
        value = getattr(info, key)
        if value in (None, "", (), []):
            continue
        rows.append(f"| {label} | {_fact_value(key, value)} |")
    if info.frame_count > 1:
        rows.append(f"| Frame | {info.frame_index + 1} of {info.frame_count} |")
    rows.append("| Sent to the model | 896 × 896 px JPEG |")
    return "\n".join(rows)


def warnings_markdown(info: ImageInfo) -> str:
    return "\n".join(f"**Warning:** {w}" for w in info.warnings)


def timings_markdown(timings_ms: Mapping[str, float]) -> str:
    if not timings_ms:
        return ""
    parts = [f"{name.replace('_', ' ')} {value / 1000:.2f} s" for name, value in timings_ms.items()]
    return "**Timings:** " + " · ".join(parts)


def facts_summary_markdown(info: ImageInfo) -> str:
    """One line under the preview: format, modality, size, frame and window."""
    parts = [info.source_format.upper()]
    parts += [value for value in (info.modality, info.body_part) if value]
    width, height = info.original_size
    parts.append(f"{width} × {height} px")
    if info.frame_count > 1:
        parts.append(f"frame {info.frame_index + 1} of {info.frame_count}")
    if info.window:
        parts.append(f"window: {window_label(info.window)}")
    return " · ".join(p for p in parts if p)


def provenance_markdown(provenance: Any) -> str:
    """The compact line under a result: what exactly was sent, to what."""
    shas = provenance.image_sha256
    if len(shas) > 3:  # a series: the count and the ends; every hash is in the JSON below
        images = f"{len(shas)} images, `{shas[0][:12]}` … `{shas[-1][:12]}`"
    else:
        images = ", ".join(f"`{sha[:12]}`" for sha in shas)
    where = []
    if provenance.frame_count > 1 and provenance.frame_index is not None:
        where.append(f"frame {provenance.frame_index + 1} of {provenance.frame_count}")
    if provenance.window:
        where.append(window_label(provenance.window))
    prompt = "edited prompt" if provenance.prompt_edited else "the template's own prompt"
    retries = {0: "no retry", 1: "1 retry"}.get(provenance.retries, f"{provenance.retries} retries")
    return (
        f"**Sent:** image SHA-256 {images}"
        + (f" ({', '.join(where)})" if where else "")
        + f" · template {provenance.template} v{provenance.template_version}"
        + f" · {prompt} `{provenance.prompt_sha256[:12]}`"
        + f" · {provenance.backend}, model `{provenance.model or 'unknown'}`"
        + f" · max {provenance.max_tokens} tokens, temperature {provenance.temperature:g}"
        + f" · {retries} · app {provenance.app_version}"
        + (
            f" · request {provenance.request_bytes / 1e6:.1f} MB"
            if len(shas) > 1 and provenance.request_bytes
            else ""
        )
    )
