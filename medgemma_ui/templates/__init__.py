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
from medgemma_ui.templates.suggest import (
    AUTO_TEMPLATE,
    resolve_template_id,
    suggest_template,
)

__all__ = [
    "AUTO_TEMPLATE",
    "TEMPLATE_IDS",
    "WINDOW_PRESETS",
    "Template",
    "TemplateDataError",
    "UnknownTemplateError",
    "check_schema",
    "get_template",
    "list_templates",
    "load_template",
    "resolve_template_id",
    "suggest_template",
]
