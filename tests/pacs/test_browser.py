"""In a real browser (Debian's chromium through Playwright): open a study from the PACS panel,
analyse it, download the DICOM SR and send it back to Orthanc."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import highdicom as hd
import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from tests.browser.conftest import browser_type_launch_args  # noqa: F401 (Debian's chromium)
from tests.pacs.conftest import PacsData
from tests.support.app_runner import running_app, settings_for
from tests.support.model_server import CXR_ANSWER, ModelServer, Script

TIMEOUT_MS = 30_000
pytestmark = pytest.mark.browser


def _pdf_text(path: Path) -> str:
    if not path.exists():
        return ""
    return " ".join(page.extract_text() for page in PdfReader(path).pages)


def test_open_from_pacs_analyze_download_and_send_the_sr(
    page: Page, pacs_data: PacsData, tmp_path: Path
):
    with ModelServer(Script(answers=[CXR_ANSWER])) as model:
        settings = settings_for(model, tmp_path)
        settings = settings.with_changes(
            pacs=replace(pacs_data.settings(MEDGEMMA_DICOMWEB_STORE="true"))
        )
        with running_app(settings) as url:
            page.goto(url)
            page.locator("#pacs-panel").get_by_text("Open from PACS").click()
            page.locator("#pacs-query input").fill("ACC-CXR-1")
            page.locator("#pacs-find").click()
            expect(page.locator("#pacs-status")).to_contain_text("1 series found")
            page.locator("#pacs-open").click()
            expect(page.locator("#pacs-status")).to_contain_text("Opened", timeout=TIMEOUT_MS)
            expect(page.locator("#preview img")).to_be_visible(timeout=TIMEOUT_MS)
            expect(page.locator("#facts-summary")).to_contain_text("CR", timeout=TIMEOUT_MS)

            page.get_by_role("button", name="Analyze").click()
            expect(page.locator("#validity")).to_contain_text("Valid findings", timeout=TIMEOUT_MS)
            download_button = page.locator("#export-sr")
            expect(download_button).to_be_visible(timeout=TIMEOUT_MS)
            with page.expect_download(timeout=TIMEOUT_MS) as download:
                download_button.click()
            saved = tmp_path / "downloaded-sr.dcm"
            download.value.save_as(saved)
            expect(page.locator("#export-pdf")).to_be_visible()

            # A saved rating goes into the PDF (the rating's own export event).
            page.locator("#overall").get_by_label("Agree", exact=True).check()
            page.locator("#comment textarea").fill("Lungs clear on my read.")
            page.get_by_role("button", name="Save rating").click()
            expect(page.locator("#feedback-confirmation")).to_contain_text(
                "Rating saved", timeout=TIMEOUT_MS
            )
            rated_pdf = tmp_path / "rated.pdf"
            deadline = time.monotonic() + TIMEOUT_MS / 1000
            while "Lungs clear on my read." not in _pdf_text(rated_pdf):
                assert time.monotonic() < deadline, "the PDF never carried the rating"
                with page.expect_download(timeout=TIMEOUT_MS) as pdf_download:
                    page.locator("#export-pdf").click()
                pdf_download.value.save_as(rated_pdf)

            page.locator("#store-sr").click()
            expect(page.locator("#export-status")).to_contain_text(
                "stored in the PACS", timeout=TIMEOUT_MS
            )

    sr = hd.sr.srread(saved)
    assert sr.StudyInstanceUID == pacs_data.cxr_study
    assert [item[2] for item in sr.get_evidence()] == [pacs_data.cxr_instance]
    assert "not a medical device" in sr.ContentSequence[-1].ContentSequence[-1].TextValue
    modalities = {
        s["00080060"]["Value"][0] for s in pacs_data.pacs.series_in_study(pacs_data.cxr_study)
    }
    assert modalities == {"CR", "SR"}
