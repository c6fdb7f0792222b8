"""The page's components by name, and handler updates given by name mapped onto them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Refs = dict[str, Any]


def by_component(refs: Refs, named: Mapping[str, Any]) -> dict[Any, Any]:
    """`{output name: value}` from a handler -> `{component: value}`, as Gradio takes it."""
    return {refs[name]: value for name, value in named.items()}
