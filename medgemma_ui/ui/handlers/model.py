"""Backend status and template prompt handlers."""

from __future__ import annotations

import gradio as gr

from medgemma_ui.backends import backend_classes
from medgemma_ui.templates import AUTO_TEMPLATE, get_template
from medgemma_ui.ui.services import Services

ASK_THE_OPERATOR = "Ask the person who runs this app to check its settings."


def for_clinicians(detail: str) -> str:
    """A backend's status detail as the page may show it: a detail that names a variable (from
    the providers' declarations, or any MEDGEMMA_ one) is for the operator, not the page."""
    names = {s.env for p in backend_classes() for s in p.declared_settings()}
    if "MEDGEMMA_" in detail or any(name in detail for name in names):
        return ASK_THE_OPERATOR
    return detail


async def backend_statuses(services: Services, selected: str | None, *, force: bool) -> tuple:
    """Dropdown labels with each backend's state, and a sentence about the selected one."""
    registry = services.registry
    statuses = await registry.statuses(force=force)
    choices = []
    for name in registry.names():
        status = statuses[name]
        model = f" · {status.model}" if status.model else ""
        choices.append((f"{registry.label(name)} — {status.state}{model}", name))
    selected = selected if selected in statuses else registry.default_name()
    status = statuses[selected]
    label = registry.label(selected)
    if status.state == "ready":
        sentence = f"**{label}** is ready" + (
            f" (model `{status.model}`)." if status.model else "."
        )
    elif status.state == "not configured":
        # Clinicians never see variable names: those are in the README and the server's log.
        sentence = f"**{label}** is not set up on this server; choose another backend."
    else:
        sentence = f"**{label}** is {status.state}. {for_clinicians(status.detail)}"
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
