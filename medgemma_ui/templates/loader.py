"""Load templates from the data files next to this module and check them at load time.

Each template is `data/<id>.toml` (metadata and instruction text) plus `data/<id>.schema.json`.
Schemas must be valid JSON Schema draft 2020-12 and use only keywords that constrained-decoding
engines (vLLM structured outputs, TGI grammars) understand.
"""

from __future__ import annotations

import json
import tomllib
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from medgemma_ui.templates.model import Template

TEMPLATE_IDS: tuple[str, ...] = ("cxr", "ct", "derm", "mri", "pathology", "fundus", "general")

WINDOW_PRESETS = frozenset(
    {"medgemma", "lung", "soft_tissue", "bone", "brain", "mediastinum", "liver"}
)

# Keywords every constrained-decoding backend handles; anything else is refused at load.
PORTABLE_KEYWORDS = frozenset(
    {"type", "properties", "required", "additionalProperties", "enum", "items", "description"}
)

_TOML_KEYS = {
    "id",
    "label",
    "version",
    "description",
    "role",
    "instructions",
    "closed_world",
    "suggested_window",
    "modality_hint",
}


class UnknownTemplateError(KeyError):
    """Raised by `get_template` for an id that is not one of `TEMPLATE_IDS`."""

    def __str__(self) -> str:  # KeyError's default str() wraps the message in quotes
        return str(self.args[0]) if self.args else ""


class TemplateDataError(ValueError):
    """A template data file is malformed (a packaging or editing mistake, not a user error)."""


def check_schema(schema: Any, where: str = "schema") -> None:
    """Raise `TemplateDataError` unless `schema` is a portable draft 2020-12 object schema."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise TemplateDataError(f"{where}: the top level must be an object schema")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise TemplateDataError(f"{where}: not a valid JSON Schema: {exc.message}") from exc
    _check_portable(schema, where)


def _check_portable(schema: dict[str, Any], where: str) -> None:
    unknown = set(schema) - PORTABLE_KEYWORDS
    if unknown:
        raise TemplateDataError(f"{where}: non-portable keywords {sorted(unknown)}")
    if schema.get("type") == "object":
        if schema.get("additionalProperties") is not False:
            raise TemplateDataError(f"{where}: objects must set additionalProperties to false")
        for key, sub in schema.get("properties", {}).items():
            _check_portable(sub, f"{where}.{key}")
    if "items" in schema:
        _check_portable(schema["items"], f"{where}[]")


def load_template(template_id: str, data_dir: Traversable | None = None) -> Template:
    """Read and check one template from `data_dir` (default: the packaged `data/`)."""
    if data_dir is None:
        data_dir = files("medgemma_ui.templates") / "data"
    try:
        meta = tomllib.loads((data_dir / f"{template_id}.toml").read_text(encoding="utf-8"))
        schema = json.loads((data_dir / f"{template_id}.schema.json").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise TemplateDataError(f"template {template_id!r}: {exc}") from exc
    extra = set(meta) - _TOML_KEYS
    if extra:
        raise TemplateDataError(f"template {template_id!r}: unknown keys {sorted(extra)}")
    if meta.get("id") != template_id:
        raise TemplateDataError(f"template {template_id!r}: the file says id={meta.get('id')!r}")
    window = meta.get("suggested_window")
    if window is not None and window not in WINDOW_PRESETS:
        raise TemplateDataError(f"template {template_id!r}: unknown window preset {window!r}")
    check_schema(schema, f"{template_id}.schema.json")
    return Template(schema=schema, **meta)


@cache
def _all() -> dict[str, Template]:
    return {template_id: load_template(template_id) for template_id in TEMPLATE_IDS}


def get_template(template_id: str) -> Template:
    """The template with this id; `UnknownTemplateError` lists the valid ids otherwise."""
    templates = _all()
    if template_id not in templates:
        raise UnknownTemplateError(
            f"Unknown template {template_id!r}; valid ids: {', '.join(TEMPLATE_IDS)}"
        )
    return templates[template_id]


def list_templates() -> list[Template]:
    """Every template in a stable order (chest X-ray first, general last)."""
    return list(_all().values())
