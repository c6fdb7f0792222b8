"""Which template an image's own facts point to (CT → CT, MR → MRI, a chest radiograph → CXR)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The value of the template choice that means "suggest one from the image" (the API's default).
AUTO_TEMPLATE = "auto"
FALLBACK_TEMPLATE = "general"

_CHEST = ("CHEST", "THORAX", "LUNG")


def suggest_template(info: Mapping[str, Any]) -> str | None:
    """The template a DICOM's own modality points to, when the match is unambiguous."""
    if info.get("source_format") != "dicom":
        return None
    modality = str(info.get("modality") or "").upper()
    body_part = str(info.get("body_part") or "").upper()
    if modality == "CT":
        return "ct"
    if modality == "MR":
        return "mri"
    if modality in {"CR", "DX", "DR"} and any(word in body_part for word in _CHEST):
        return "cxr"
    if modality == "OP":
        return "fundus"
    if modality == "SM":
        return "pathology"
    if modality == "US":
        return "general"
    return None


def resolve_template_id(template_id: str | None, info: Mapping[str, Any]) -> str:
    """`auto` (or nothing) becomes the suggested template, else the general one."""
    if template_id and template_id != AUTO_TEMPLATE:
        return template_id
    return suggest_template(info) or FALLBACK_TEMPLATE
