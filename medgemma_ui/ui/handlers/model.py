"""Backend status and template prompt handlers."""

from __future__ import annotations

import gradio as gr

from medgemma_ui.templates import AUTO_TEMPLATE, get_template
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
    label = registry.get(selected).label
    if status.state == "ready":
        sentence = f"**{label}** is ready" + (
            f" (model `{status.model}`)." if status.model else "."
        )
    elif status.state == "not configured":
        # Clinicians never see variable names: those are in the README and the server's log.
        sentence = f"**{label}** is not set up on this server; choose another backend."
    else:
        sentence = f"**{label}** is {status.state}. {status.detail}"
    if not any(s.state == "ready" for s in statuses.values()):
        sentence += (
            "\n\nNo backend is ready yet. Ask the person who runs this app to set one up "
            "(their guide is the README's *Backends* section)."
        )
    return gr.update(choices=choices, value=selected), sentence


def template_prompt(template_id: str | None) -> str:
    """The prompt box's text: the template's own prompt ("" while the template is automatic)."""
    if not template_id or template_id == AUTO_TEMPLATE:
        return ""
    return get_template(template_id).build_prompt()
