"""Pure text formatting for the UI: no Gradio, no I/O, so it is unit-testable."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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


def image_facts_markdown(info: Mapping[str, Any]) -> str:
    """A two-column table of the non-identifying facts in `PreparedImage.info`."""
    rows = ["| Image facts | |", "|---|---|"]
    for key, label in _FACT_LABELS:
        value = info.get(key)
        if value in (None, "", []):
            continue
        rows.append(f"| {label} | {_fact_value(key, value)} |")
    count = info.get("frame_count") or 1
    if count > 1:
        rows.append(f"| Frame | {int(info.get('frame_index', 0)) + 1} of {count} |")
    rows.append("| Sent to the model | 896 × 896 px JPEG |")
    return "\n".join(rows)


def warnings_markdown(info: Mapping[str, Any]) -> str:
    warnings = [str(w) for w in info.get("warnings") or []]
    return "\n".join(f"**Warning:** {w}" for w in warnings)


def timings_markdown(timings_ms: Mapping[str, float]) -> str:
    if not timings_ms:
        return ""
    parts = [f"{name.replace('_', ' ')} {value / 1000:.2f} s" for name, value in timings_ms.items()]
    return "**Timings:** " + " · ".join(parts)


def validity_markdown(result: Any) -> str:
    """One plain statement of whether the parsed findings can be trusted to match the template."""
    findings = result.final.findings
    retried = (
        f"\n\nThe first answer was invalid, so the model was asked again "
        f"({result.retries} {'retry' if result.retries == 1 else 'retries'})."
        if result.retries
        else ""
    )
    retry_error = getattr(result, "retry_error", "")
    if retry_error:
        retried += f"\n\nThe retry failed ({retry_error}); the first answer is shown."
    constrained = (
        "\n\nThe backend was asked to follow the template's JSON schema."
        if result.structured_output
        else ""
    )
    if findings.valid:
        how = "after repair" if findings.repaired else "as returned"
        notes = "".join(f"\n- {n}" for n in getattr(findings, "normalisations", []) or [])
        head = f"**Valid findings** for this template ({how})."
        return head + (f"\n\nAdjusted:{notes}" if notes else "") + retried + constrained
    if findings.data is None:
        head = "**No findings could be read**: the answer contains no usable JSON."
    else:
        count = len(findings.errors)
        head = (
            f"**Not valid for this template**: {count} "
            f"{'problem' if count == 1 else 'problems'}. The parsed data is shown as found."
        )
    problems = "".join(f"\n- {e}" for e in findings.errors)
    return head + problems + retried + constrained
