"""Render a JSON Schema as the short skeleton shown to the model.

MedGemma 4B follows a one-screen example far better than a full JSON Schema dump, so the prompt
shows e.g. `"cardiac_size": "normal" | "enlarged"` instead of `{"type": "string", "enum": ...}`.
"""

from __future__ import annotations

import json
from typing import Any

_SCALARS = {
    "string": "string",
    "number": "number",
    "integer": "integer",
    "boolean": "true | false",
    "null": "null",
}


def render_value(schema: dict[str, Any]) -> str:
    """One-line rendering of a (sub)schema."""
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(render_value({**schema, "type": k}) for k in kind)
    if kind == "array":
        return f"[{render_value(schema.get('items', {}))}]"
    if kind == "object":
        return "{" + ", ".join(_render_members(schema)) + "}"
    return _SCALARS.get(str(kind), "any")


def _render_members(schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    members = []
    for key, sub in schema.get("properties", {}).items():
        optional = "" if key in required else " (optional)"
        members.append(f"{json.dumps(key)}: {render_value(sub)}{optional}")
    return members


def render_skeleton(schema: dict[str, Any]) -> str:
    """Multi-line skeleton: one top-level key per line, nested values inline."""
    if schema.get("type") != "object":
        return render_value(schema)
    lines = ",\n".join(f"  {member}" for member in _render_members(schema))
    return "{\n" + lines + "\n}"
