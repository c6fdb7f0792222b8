"""Modality prompt templates and their JSON Schemas, kept as data files under `data/`."""

from medgemma_ui.templates.loader import (
    TEMPLATE_IDS,
    WINDOW_PRESETS,
    TemplateDataError,
    UnknownTemplateError,
    check_schema,
    get_template,
    list_templates,
    load_template,
)
from medgemma_ui.templates.model import Template

__all__ = [
    "TEMPLATE_IDS",
    "WINDOW_PRESETS",
    "Template",
    "TemplateDataError",
    "UnknownTemplateError",
    "check_schema",
    "get_template",
    "list_templates",
    "load_template",
]
