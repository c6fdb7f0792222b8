"""The review tab's figures (the ratings review and the agreement dashboard): read-only tables
and bar charts, hidden until the organiser asks for them and their handler fills them in."""

from __future__ import annotations

from typing import Any

import gradio as gr


def hidden_table(headers: list[str], label: str, elem_id: str, **table: Any) -> gr.Dataframe:
    """A table the organiser reads, not edits."""
    return gr.Dataframe(
        headers=headers,
        label=label,
        interactive=False,
        visible=False,
        elem_id=elem_id,
        **table,
    )


def hidden_bars(elem_id: str, **chart: Any) -> gr.BarPlot:
    """Bars in the figures' own order (not sorted)."""
    return gr.BarPlot(sort=None, visible=False, elem_id=elem_id, **chart)
