"""Discover templates in a data folder and check them at load time.

Each template is `<id>.toml` (menu order, modality match, example image, default window, input
kind and prompt pieces) plus `<id>.schema.json`, and optionally an example image in `examples/`.
Adding a template is adding those files: the ids, the menu, the suggestion from an image's
modality, the examples and the CLI's help all come from them. The folder is the packaged `data/`
unless `use_templates_dir` points elsewhere (`MEDGEMMA_TEMPLATES_DIR`).

Schemas must be valid JSON Schema draft 2020-12 and use only keywords that constrained-decoding
engines (vLLM structured outputs, TGI grammars) understand.
"""

from __future__ import annotations

import json
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from medgemma_ui.imaging.windowing import window_names
from medgemma_ui.templates.model import TEMPLATE_INPUTS, Example, ModalityMatch, Template

# Keywords every constrained-decoding backend handles; anything else is refused at load.
PORTABLE_KEYWORDS = frozenset(
    {"type", "properties", "required", "additionalProperties", "enum", "items", "description"}
)

_TOML_KEYS = {
    "id",
    "label",
    "version",
    "order",
    "input",
    "fallback",
    "description",
    "role",
    "instructions",
    "closed_world",
    "default_window",
    "match",
    "example",
    "lead",
    "targets",
}
_MATCH_KEYS = {"modalities", "body_parts"}
_EXAMPLE_KEYS = {"file", "caption"}

_data_dir: Path | None = None  # None: the packaged data folder


class UnknownTemplateError(KeyError):
    """Raised by `get_template` for an id that is not one of `template_ids()`."""

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


def use_templates_dir(path: Path | str | None) -> None:
    """Load templates from `path` from now on (None: the packaged ones)."""
    global _data_dir
    _data_dir = None if path is None or str(path) == "" else Path(path)
    _all.cache_clear()


def templates_dir() -> Path:
    """The folder templates are read from."""
    return _data_dir if _data_dir is not None else Path(__file__).resolve().parent / "data"


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise TemplateDataError(f"{where} must be a list of words")
    return tuple(v.strip().upper() for v in value)


def _table(meta: dict[str, Any], key: str, keys: set[str], where: str) -> dict[str, Any]:
    table = meta.get(key, {})
    if not isinstance(table, dict):
        raise TemplateDataError(f"{where}: [{key}] must be a table")
    extra = set(table) - keys
    if extra:
        raise TemplateDataError(f"{where}: unknown keys in [{key}] {sorted(extra)}")
    return table


def _fields(meta: dict[str, Any], data_dir: Path, where: str) -> dict[str, Any]:
    """The TOML's values as `Template` fields, each checked."""
    extra = set(meta) - _TOML_KEYS
    if extra:
        raise TemplateDataError(f"{where}: unknown keys {sorted(extra)}")
    fields = {k: v for k, v in meta.items() if k not in {"match", "example"}}
    if not isinstance(fields.get("order", 100), int):
        raise TemplateDataError(f"{where}: order must be a whole number")
    if fields.get("input", "image") not in TEMPLATE_INPUTS:
        raise TemplateDataError(
            f"{where}: input must be one of {', '.join(TEMPLATE_INPUTS)}, "
            f"got {fields.get('input')!r}"
        )
    window = fields.get("default_window")
    if window is not None and window not in window_names():
        raise TemplateDataError(f"{where}: unknown window preset {window!r}")
    kind = fields.get("input", "image")
    if fields.get("lead") and kind != "series":
        raise TemplateDataError(f"{where}: lead is sent before a series' slices; input is {kind}")
    targets = fields.get("targets", [])
    if targets and kind != "target":
        raise TemplateDataError(f'{where}: targets are for input = "target" templates')
    if not isinstance(targets, list) or not all(isinstance(x, str) for x in targets):
        raise TemplateDataError(f"{where}: targets must be a list of texts")
    fields["targets"] = tuple(targets)
    if kind == "target" and "{target}" not in str(fields.get("instructions", "")):
        raise TemplateDataError(f"{where}: a target template's instructions must say {{target}}")
    match = _table(meta, "match", _MATCH_KEYS, where)
    fields["match"] = ModalityMatch(
        modalities=_strings(match.get("modalities", []), f"{where}: match.modalities"),
        body_parts=_strings(match.get("body_parts", []), f"{where}: match.body_parts"),
    )
    example = _table(meta, "example", _EXAMPLE_KEYS, where)
    if example:
        path = data_dir / "examples" / str(example.get("file", ""))
        if not example.get("file") or not path.is_file():
            raise TemplateDataError(f"{where}: example file {example.get('file')!r} not found")
        fields["example"] = Example(path=path, caption=str(example.get("caption") or ""))
    return fields


def load_template(template_id: str, data_dir: Path | None = None) -> Template:
    """Read and check one template from `data_dir` (default: `templates_dir()`)."""
    data_dir = templates_dir() if data_dir is None else Path(data_dir)
    where = f"template {template_id!r}"
    try:
        meta = tomllib.loads((data_dir / f"{template_id}.toml").read_text(encoding="utf-8"))
        schema = json.loads((data_dir / f"{template_id}.schema.json").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise TemplateDataError(f"{where}: {exc}") from exc
    if meta.get("id") != template_id:
        raise TemplateDataError(f"{where}: the file says id={meta.get('id')!r}")
    fields = _fields(meta, data_dir, where)
    check_schema(schema, f"{template_id}.schema.json")
    try:
        return Template(schema=schema, **fields)
    except TypeError as exc:  # a required key (label, version, instructions) is missing
        raise TemplateDataError(f"{where}: {exc}") from exc


@cache
def _all() -> dict[str, Template]:
    data_dir = templates_dir()
    ids = sorted(path.stem for path in data_dir.glob("*.toml"))
    if not ids:
        raise TemplateDataError(f"no templates (*.toml) in {data_dir}")
    loaded = sorted((load_template(i, data_dir) for i in ids), key=lambda t: (t.order, t.id))
    fallbacks = [t.id for t in loaded if t.fallback]
    if len(fallbacks) != 1:
        raise TemplateDataError(
            f"exactly one template must set fallback = true; found {fallbacks or 'none'}"
        )
    return {template.id: template for template in loaded}


def template_ids() -> tuple[str, ...]:
    """Every template id, in menu order."""
    return tuple(_all())


def get_template(template_id: str) -> Template:
    """The template with this id; `UnknownTemplateError` lists the valid ids otherwise."""
    templates = _all()
    if template_id not in templates:
        raise UnknownTemplateError(
            f"Unknown template {template_id!r}; valid ids: {', '.join(templates)}"
        )
    return templates[template_id]


def list_templates() -> list[Template]:
    """Every template in menu order (its `order` key)."""
    return list(_all().values())


def fallback_template() -> Template:
    """The template suggested when nothing else matches an image (`fallback = true`)."""
    return next(t for t in _all().values() if t.fallback)
