"""Backend and template choice, the editable prompt and generation settings."""

from __future__ import annotations

import gradio as gr

from medgemma_ui.backends import MAX_TOKENS_CAP
from medgemma_ui.templates import AUTO_TEMPLATE, list_templates
from medgemma_ui.ui.handlers import model as model_handlers
from medgemma_ui.ui.handlers import result_view
from medgemma_ui.ui.refs import Refs
from medgemma_ui.ui.services import Services


def template_dropdown() -> gr.Dropdown:
    """Created before the layout (render=False): the examples beside the image set it too."""
    return gr.Dropdown(
        label="3 · Template",
        choices=[("Suggested from the image", AUTO_TEMPLATE)]
        + [(t.label, t.id) for t in list_templates()],
        value=AUTO_TEMPLATE,
        interactive=True,
        elem_id="template",
        scale=2,
        min_width=220,
        render=False,
    )


def render(services: Services, template: gr.Dropdown) -> Refs:
    defaults = services.settings.generation
    registry = services.registry
    with gr.Row(equal_height=False, elem_id="model-row"):
        backend = gr.Dropdown(
            label="2 · Backend",
            choices=[(registry.get(name).label, name) for name in registry.names()],
            value=registry.default_name(),
            interactive=True,
            elem_id="backend",
            scale=3,
            min_width=300,
        )
        template.render()
    backend_status = gr.Markdown("", elem_id="backend-status")
    with gr.Accordion("Advanced: prompt and generation settings", open=False, elem_id="advanced"):
        prompt = gr.Textbox(
            label="Prompt sent with the image (editable)",
            # Empty means the template's own prompt (the API's default); the page fills it in.
            value="",
            placeholder="The chosen template's own prompt is sent. Pick a template to read and "
            "edit it.",
            lines=10,
            max_lines=30,
            elem_id="prompt",
        )
        with gr.Row():
            reset_prompt = gr.Button("Reset prompt to the template", size="sm", scale=0)
            refresh = gr.Button("Check backends again", size="sm", scale=0)
        # The generation settings, side by side: name, label, minimum, maximum, step, starting
        # value. The elem_id is the name with dashes (#max-tokens, #temperature, #retries).
        generation_settings = (
            ("max_tokens", "Max tokens", 64, MAX_TOKENS_CAP, 32, defaults.max_tokens),
            ("temperature", "Temperature", 0.0, 1.5, 0.05, defaults.temperature),
            ("retries", "Retries when the JSON is invalid", 0, 2, 1, defaults.parse_retries),
        )
        with gr.Row():
            sliders = {
                name: gr.Slider(
                    label=label,
                    minimum=minimum,
                    maximum=maximum,
                    step=step,
                    value=value,
                    elem_id=name.replace("_", "-"),
                )
                for name, label, minimum, maximum, step, value in generation_settings
            }
        structured = gr.Checkbox(
            label="Constrain the answer to the template JSON schema (where the backend can)",
            value=services.settings.backends.structured_output,
            elem_id="structured",
        )
    return {
        "backend": backend,
        "backend_status": backend_status,
        "refresh": refresh,
        "template": template,
        "prompt": prompt,
        "reset_prompt": reset_prompt,
        **sliders,
        "structured": structured,
    }


def listen(refs: Refs, services: Services, demo: gr.Blocks) -> None:
    async def statuses(selected: str | None, force: bool = False) -> tuple:
        return await model_handlers.backend_statuses(services, selected, force=force)

    async def refresh(selected: str | None) -> tuple:
        return await statuses(selected, force=True)

    status_outputs = [refs["backend"], refs["backend_status"]]
    demo.load(statuses, inputs=[refs["backend"]], outputs=status_outputs, api_visibility="private")
    refs["refresh"].click(
        refresh, inputs=[refs["backend"]], outputs=status_outputs, api_visibility="private"
    )
    refs["backend"].input(
        statuses, inputs=[refs["backend"]], outputs=status_outputs, api_visibility="private"
    )
    # A result stays on screen after another template or backend is chosen, marked as such.
    mark_inputs = [refs["result_state"], refs["template"], refs["backend"]]
    for control in ("template", "backend"):
        refs[control].change(
            result_view.stale_note,
            inputs=mark_inputs,
            outputs=[refs["result_note"]],
            api_visibility="private",
            queue=False,
        )
    # .change, not .input: picking an example sets the template too, and its prompt must follow.
    refs["template"].change(
        model_handlers.template_prompt,
        inputs=[refs["template"]],
        outputs=[refs["prompt"]],
        api_visibility="private",
    )
    refs["reset_prompt"].click(
        model_handlers.template_prompt,
        inputs=[refs["template"]],
        outputs=[refs["prompt"]],
        api_visibility="private",
    )
