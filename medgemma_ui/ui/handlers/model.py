"""Backend status and template prompt handlers."""

from __future__ import annotations

import gradio as gr

from medgemma_ui.templates import get_template
from medgemma_ui.ui.services import Services


async def backend_statuses(services: Services, selected: str | None, *, force: bool) -> tuple:
    """Dropdown labels with each backend's state, and a sentence about the selected one."""
    registry = services.registry
    statuses = await registry.statuses(force=force)
    choices = []
    for name in registry.names():
        status = statuses[name]
        model = f" · {status.model}" if status.model else ""
        choices.append(
            (
                f"{registry.get(name).label} — {status.state}{model}",
                name,
            )
        )
    selected = selected if selected in statuses else registry.default_name()
    status = statuses[selected]
    if status.state == "ready":
        sentence = f"**{registry.get(selected).label}** is ready" + (
            f" (model `{status.model}`)." if status.model else "."
        )
    else:
        sentence = f"**{registry.get(selected).label}** is {status.state}. {status.detail}"
    if not any(s.state == "ready" for s in statuses.values()):
        sentence += (
            "\n\nNo backend is ready. Set `MEDGEMMA_OPENAI_BASE_URL` (vLLM, llama.cpp, Ollama), "
            "`MEDGEMMA_HF_ENDPOINT_URL` + `HF_TOKEN`, `MEDGEMMA_VERTEX_ENDPOINT`, or "
            "`MEDGEMMA_LOCAL_MODEL`, then restart. See the README's *Backends* section."
        )
    return gr.update(choices=choices, value=selected), sentence


def template_prompt(template_id: str) -> str:
    return get_template(template_id).build_prompt()
