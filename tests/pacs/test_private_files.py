"""What the app hands to a page from the PACS is patient data: the series opened (whole DICOM
files) and the SR, FHIR and PDF downloads built from them. Each is its opener's alone, as an
upload is its sender's: another login can neither download it through the file routes, nor
preview it, nor build exports from it."""

from __future__ import annotations

import shutil
import stat
from dataclasses import replace
from pathlib import Path

from gradio.utils import get_upload_folder

from medgemma_ui.analysis import AnalysisRequest, analyze_to_result
from medgemma_ui.pacs.settings import PacsSettings
from medgemma_ui.ui.handlers.pacs import ShownResult, make_exports, send_sr
from medgemma_ui.ui.services import create_services
from tests.pacs.conftest import CHEST, PacsData
from tests.support.app_runner import running_app, settings_for
from tests.support.gradio_http import file_data
from tests.support.logins import SPEC, signed_in
from tests.support.model_server import CXR_ANSWER, ModelServer, Script


def _private_in_the_cache(path: str) -> None:
    assert Path(path).is_relative_to(get_upload_folder())
    assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(path).parent.stat().st_mode) == 0o700


def test_a_series_opened_from_the_pacs_is_its_openers_alone(pacs_data: PacsData, tmp_path: Path):
    with ModelServer(Script(answers=[CXR_ANSWER])) as model:
        settings = settings_for(model, tmp_path)
        server = replace(settings.server, auth_users=SPEC, prepare_workers=1)
        with running_app(settings.with_changes(server=server, pacs=pacs_data.settings())) as url:
            bob, alice = signed_in(url, "bob"), signed_in(url, "alice")
            found = bob.run("pacs-find", "click", ["ACC-CXR-1"])
            assert found.success and "1 series found" in str(found.data[-1])
            opened = bob.run("pacs-open", "click", [0, None])
            assert opened.success and "Opened" in str(opened.data[-1])
            path = opened.data[0]["path"]
            _private_in_the_cache(path)

            assert bob.client.get(f"/gradio_api/file={path}").status_code == 200
            assert alice.client.get(f"/gradio_api/file={path}").status_code == 403
            assert bob.run("upload", "change", [file_data(path), None]).data[0] is not None
            theirs = alice.run("upload", "change", [file_data(path), None])
            assert theirs.data[0] is None and "uploaded by another user" in theirs.data[1]


async def test_exports_are_built_for_and_given_to_their_opener_alone(tmp_path: Path):
    pacs = PacsSettings.from_env(
        # Nothing listens there: a refusal must come before any attempt to send.
        {"MEDGEMMA_DICOMWEB_URL": "http://127.0.0.1:9/dicom-web", "MEDGEMMA_DICOMWEB_STORE": "true"}
    )
    with ModelServer(Script(answers=[CXR_ANSWER])) as model:
        services = create_services(settings_for(model, tmp_path).with_changes(pacs=pacs))
        try:
            opened = tmp_path / "opened" / "0001.dcm"
            opened.parent.mkdir()
            shutil.copy(CHEST, opened)
            path = services.give(opened, "bob")
            assert not opened.exists()  # moved, not copied: one copy of the patient's file
            backend = services.registry.get("openai")
            result = await analyze_to_result(AnalysisRequest((path,), template_id="cxr"), backend)

            shown = ShownResult(result, upload=path)
            mine = await make_exports(shown, services, "bob")
            for kind in ("export_sr", "export_fhir", "export_pdf"):
                download = mine[kind]["value"]
                _private_in_the_cache(download)
                assert services.uploads.owner(download) == (True, "bob")
            assert Path(mine["export_sr"]["value"]).name == "medgemma-sr.dcm"
            assert services.given >= {mine[k]["value"] for k in ("export_sr", "export_pdf")}

            # A saved rating remakes the PDF only; nothing else is handed to the page.
            before = set(services.given)
            rated = await make_exports(
                shown, services, "bob", {"comment": "Agree."}, kinds=("pdf",)
            )
            assert rated["export_sr"]["value"] is None and rated["export_fhir"]["value"] is None
            assert services.given - before == {rated["export_pdf"]["value"]}

            theirs = await make_exports(shown, services, "alice")
            assert theirs["export_sr"]["value"] is None and theirs["export_pdf"]["value"] is None
            assert "opened by another user" in theirs["export_status"]
            sent = send_sr(shown, services, "alice")
            assert sent.startswith("**Not sent.**") and "opened by another user" in sent
        finally:
            services.prepare_pool.close()
