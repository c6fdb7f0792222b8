"""The bundled example images: each template's own (`[example]` in its TOML; sources and
licences in the examples folder's README)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from medgemma_ui.templates import list_templates
from medgemma_ui.ui.refs import Refs


def render(refs: Refs) -> Any:  # gr.Examples (a function in Gradio 6) or None
    shown = [t for t in list_templates() if t.example is not None]
    if not shown:
        return None
    return gr.Examples(
        examples=[[str(t.example.path), t.id] for t in shown if t.example],
        inputs=[refs["upload"], refs["template"]],
        label="Examples (one per template; the captions say which are synthetic)",
        example_labels=[t.example.caption or t.label for t in shown if t.example],
        examples_per_page=len(shown),
        cache_examples=False,
    )
