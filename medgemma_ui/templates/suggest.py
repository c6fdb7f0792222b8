"""Which template an image's own facts point to, driven by each template's `[match]` table
(CT → CT, MR → MRI, a chest radiograph → chest X-ray; nothing matching → the fallback)."""

from __future__ import annotations

from medgemma_ui.imaging import ImageInfo
from medgemma_ui.templates.loader import fallback_template, list_templates
from medgemma_ui.templates.model import TemplateInput

# The value of the template choice that means "suggest one from the image" (the API's default).
AUTO_TEMPLATE = "auto"


def suggest_template(info: ImageInfo, input_kind: TemplateInput = "image") -> str | None:
    """The template a DICOM's Modality (and body part) points to, among templates taking
    `input_kind`. A match that names body parts beats one that does not; then the menu order."""
    if info.source_format != "dicom":
        return None
    matching = [
        t
        for t in list_templates()
        if t.input == input_kind and t.match.matches(info.modality, info.body_part)
    ]
    if not matching:
        return None
    return min(matching, key=lambda t: (not t.match.body_parts, t.order)).id


def resolve_template_id(template_id: str | None, info: ImageInfo) -> str:
    """`auto` (or nothing) becomes the suggested template, else the fallback one."""
    if template_id and template_id != AUTO_TEMPLATE:
        return template_id
    return suggest_template(info) or fallback_template().id
