"""Open from PACS (shown when MEDGEMMA_DICOMWEB_URL is set) and the result's exports: DICOM SR,
FHIR and PDF downloads, and "Send SR to PACS" (when MEDGEMMA_DICOMWEB_STORE is on)."""

from __future__ import annotations

import asyncio
from typing import Any

import gradio as gr

from medgemma_ui.ui.access import current_login
from medgemma_ui.ui.events import for_caller
from medgemma_ui.ui.handlers import pacs as handlers
from medgemma_ui.ui.refs import Refs, by_component
from medgemma_ui.ui.services import Services

FIND_OUTPUTS = ("pacs_series", "pacs_open", "pacs_found", "pacs_status")
EXPORT_OUTPUTS = ("export_sr", "export_fhir", "export_pdf", "store_sr", "export_status")


def render_open(services: Services) -> Refs:
    refs: Refs = {}
    with gr.Accordion(
        "Open from PACS",
        open=False,
        visible=services.settings.pacs.configured,
        elem_id="pacs-panel",
    ):
        with gr.Row(equal_height=True):
            refs["pacs_query"] = gr.Textbox(
                label="Accession number or Study Instance UID",
                max_lines=1,
                scale=4,
                elem_id="pacs-query",
            )
            refs["pacs_find"] = gr.Button("Find", scale=1, elem_id="pacs-find")
        refs["pacs_series"] = gr.Dropdown(
            label="Series",
            choices=[],
            visible=False,
            interactive=True,
            elem_id="pacs-series",
        )
        refs["pacs_open"] = gr.Button("Open", interactive=False, elem_id="pacs-open")
        refs["pacs_status"] = gr.Markdown("", elem_id="pacs-status")
    refs["pacs_found"] = gr.State([])  # the series found (with their UIDs), server-side only
    return refs


def render_exports(services: Services) -> Refs:
    refs: Refs = {}
    with gr.Row(elem_id="result-exports"):
        for name, label, elem_id in (
            ("export_sr", "DICOM SR", "export-sr"),
            ("export_fhir", "FHIR R4", "export-fhir"),
            ("export_pdf", "PDF report", "export-pdf"),
        ):
            refs[name] = gr.DownloadButton(label, visible=False, size="sm", elem_id=elem_id)
        refs["store_sr"] = gr.Button(
            "Send SR to PACS", visible=False, size="sm", elem_id="store-sr"
        )
    refs["export_status"] = gr.Markdown("", elem_id="export-status")
    return refs


def listen(refs: Refs, services: Services) -> None:
    private: dict[str, Any] = {"api_visibility": "private", "concurrency_limit": None}

    # Every PACS event checks the caller as the image events do (signed in, a member with OAuth
    # organisations): study facts and files are patient data.
    @for_caller(services)
    async def on_find(query: str | None) -> dict:
        return by_component(refs, await handlers.find_study(query, services))

    find = {"inputs": [refs["pacs_query"]], "outputs": [refs[n] for n in FIND_OUTPUTS], **private}
    refs["pacs_find"].click(on_find, **find)
    refs["pacs_query"].submit(on_find, **find)

    async def on_open(
        choice: int | None,
        found: list,
        request: gr.Request,
        oauth_token: gr.OAuthToken | None = None,
        progress=gr.Progress(),  # noqa: B008
    ):
        login = services.identify(request, oauth_token).login
        async for update in handlers.open_series(choice, found, services, login, progress):
            yield by_component(refs, update)

    refs["pacs_open"].click(
        on_open,
        inputs=[refs["pacs_series"], refs["pacs_found"]],
        outputs=[refs[n] for n in ("upload", "study_files", "pacs_status")],
        **private,
    )

    sources = [refs["result_state"], refs["upload"], refs["study_files"], refs["prior"]]
    outputs = [refs[n] for n in EXPORT_OUTPUTS]

    # Exports are built only from files the caller may read, and given to the caller alone.
    @for_caller(services)
    async def on_result(result: Any, upload: Any, study: Any, prior: Any) -> dict:
        shown = handlers.ShownResult(result, upload, study, prior)
        return by_component(refs, await handlers.make_exports(shown, services, current_login()))

    refs["result_state"].change(on_result, inputs=sources, outputs=outputs, **private)

    # A saved rating goes into the PDF.
    rating_names = ("overall", "added", "corrected", "comment", "reviewer")

    @for_caller(services)
    async def on_rating(
        result: Any,
        upload: Any,
        study: Any,
        prior: Any,
        overall: Any,
        added: Any,
        corrected: Any,
        comment: Any,
        reviewer: Any,
    ) -> dict:
        values = (overall, added, corrected, comment, reviewer)
        rating = dict(zip(rating_names, values, strict=True))
        shown = handlers.ShownResult(result, upload, study, prior)
        exported = await handlers.make_exports(
            shown, services, current_login(), rating, kinds=("pdf",)
        )
        return by_component(refs, {"export_pdf": exported.get("export_pdf", gr.skip())})

    refs["confirmation"].change(
        on_rating,
        inputs=[*sources, *(refs[n] for n in rating_names)],
        outputs=[refs["export_pdf"]],
        **private,
    )

    @for_caller(services)
    async def on_store(result: Any, upload: Any, study: Any, prior: Any) -> dict:
        shown = handlers.ShownResult(result, upload, study, prior)
        sent = await asyncio.to_thread(handlers.send_sr, shown, services, current_login())
        return by_component(refs, {"export_status": sent})

    refs["store_sr"].click(on_store, inputs=sources, outputs=[refs["export_status"]], **private)
