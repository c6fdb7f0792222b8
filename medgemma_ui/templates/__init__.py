"""Modality prompt templates and their JSON Schemas, kept as data files: one TOML and one schema
(and optionally an example image) per template; no code names a template."""

from medgemma_ui.templates.loader import (
    TemplateDataError,
    UnknownTemplateError,
    check_schema,
    fallback_template,
    get_template,
    list_templates,
    load_template,
    template_ids,
    templates_dir,
    use_templates_dir,
)
from medgemma_ui.templates.model import (
    TEMPLATE_INPUTS,
    Example,
    ModalityMatch,
    Template,
    fill_target,
)
from medgemma_ui.templates.suggest import AUTO_TEMPLATE, resolve_template_id, suggest_template

__all__ = [
    "AUTO_TEMPLATE",
    "TEMPLATE_INPUTS",
    "Example",
    "ModalityMatch",
    "Template",
    "TemplateDataError",
    "UnknownTemplateError",
    "check_schema",
    "fallback_template",
    "fill_target",
    "get_template",
    "list_templates",
    "load_template",
    "resolve_template_id",
    "suggest_template",
    "template_ids",
    "templates_dir",
    "use_templates_dir",
]
