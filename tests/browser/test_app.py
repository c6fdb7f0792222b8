"""A clinician's path through the real page in Debian's chromium, against a loopback model."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.app_runner import running_app, settings_for
from tests.support.model_server import CXR_ANSWER, ModelServer, Script

pytestmark = pytest.mark.browser

EXAMPLES = Path(__file__).resolve().parents[2] / "medgemma_ui" / "templates" / "data" / "examples"
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def model_server():
    with ModelServer(Script(token_delay_s=0.01, token_size=6)) as server:
        yield server


@pytest.fixture(scope="module")
def app_url(model_server, tmp_path_factory):
    with running_app(settings_for(model_server, tmp_path_factory.mktemp("app"))) as url:
        yield url


def upload(page: Page, path: Path) -> None:
    page.locator("#upload input[type=file]").set_input_files(str(path))


def preview_src(page: Page) -> str:
    image = page.locator("#preview img")
    expect(image).to_be_visible(timeout=TIMEOUT_MS)
    return image.get_attribute("src") or ""


def choose(page: Page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_dicom_preview_window_and_analysis(page: Page, app_url: str):
    page.goto(app_url)
    expect(page.locator("#notice")).to_contain_text("not a medical device")
    upload(page, EXAMPLES / "ct_head.dcm")
    first = preview_src(page)
    expect(page.locator("#facts-summary")).to_contain_text("CT")
    expect(page.locator("#window input")).to_have_value(
        "MedGemma 1.5 CT encoding (3 windows as RGB)", timeout=TIMEOUT_MS
    )

    # The file's modality picks the CT template; the clinician can still change it.
    expect(page.locator("#template input")).to_have_value("CT", timeout=TIMEOUT_MS)

    choose(page, "window", "Brain (W 80 / L 40)")
    expect(page.locator("#facts-summary")).to_contain_text("Brain (W 80", timeout=TIMEOUT_MS)
    assert preview_src(page) != first
    choose(page, "template", "Chest X-ray")  # the loopback model always answers a CXR report

    page.get_by_role("button", name="Analyze").click()
    expect(page.locator("#raw textarea")).to_have_value(CXR_ANSWER, timeout=TIMEOUT_MS)
    expect(page.locator("#validity")).to_contain_text("Valid findings", timeout=TIMEOUT_MS)
    # The report reads as a report: impression first, sections in words, lists as bullets.
    report = page.locator("#report")
    expect(report).to_contain_text("Impression")
    text = report.inner_text()
    assert text.index("Impression") < text.index("Cardiac size") < text.index("Pulmonary")
    assert "cardiac_size" not in text and "Normal" in text
    page.get_by_role("tab", name="Findings as JSON").click()
    expect(page.locator("#parsed")).to_contain_text("cardiac_size", timeout=TIMEOUT_MS)
    expect(page.locator("#timings")).to_contain_text("total")
    expect(page.locator("#provenance-line")).to_contain_text("SHA-256")

    # Run history is off: nothing about the upload is kept in the browser.
    stored = page.evaluate("JSON.stringify(Object.assign({}, window.localStorage))")
    assert "ct_head" not in stored


def test_text_file_gets_a_clear_sentence(page: Page, app_url: str, tmp_path: Path):
    notes = tmp_path / "notes.txt"
    notes.write_text("Discharge letter.\n" * 50)
    page.goto(app_url)
    upload(page, notes)
    expect(page.locator("#facts-summary")).to_contain_text("cannot be used", timeout=TIMEOUT_MS)
    expect(page.locator("#preview img")).to_have_count(0)


def test_stop_cancels_a_slow_request(page: Page, tmp_path: Path):
    with (
        ModelServer(Script(first_token_delay_s=60.0)) as slow,
        running_app(settings_for(slow, tmp_path)) as url,
    ):
        page.goto(url)
        upload(page, EXAMPLES / "skin_lesion_synthetic.jpg")
        preview_src(page)
        page.get_by_role("button", name="Analyze").click()
        deadline = time.monotonic() + 15
        while not slow.requests and time.monotonic() < deadline:
            time.sleep(0.1)
        assert slow.requests, "the request never reached the model server"
        page.get_by_role("button", name="Stop").click()
        deadline = time.monotonic() + 15
        while not slow.requests[-1].disconnected and time.monotonic() < deadline:
            time.sleep(0.1)
        assert slow.requests[-1].disconnected, "Stop did not close the backend stream"
        expect(page.locator("#status")).to_contain_text("Stopped", timeout=TIMEOUT_MS)
        expect(page.locator("#raw textarea")).to_have_value("")


def test_rating_is_saved_updated_and_exported_without_identifiers(
    page: Page, tmp_path: Path, model_server: ModelServer
):
    import pydicom
    from pydicom.data import get_testdata_file

    from medgemma_ui.feedback import FeedbackStore

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName = "Ada^Lovelace"
    ds.PatientID = "AL-18151210"
    scan = tmp_path / "Ada_Lovelace_scan.dcm"
    ds.save_as(scan)
    settings = settings_for(model_server, tmp_path)
    with running_app(settings) as url:
        page.goto(url)
        upload(page, scan)
        preview_src(page)
        expect(page.locator("#template input")).to_have_value("CT", timeout=TIMEOUT_MS)
        choose(page, "template", "Chest X-ray")
        save = page.get_by_role("button", name="Save rating")
        expect(save).to_be_disabled()  # nothing to rate yet, and the panel says why
        expect(page.locator("#feedback-hint")).to_contain_text("analyze an image first")
        page.get_by_role("button", name="Analyze").click()
        expect(page.locator("#validity")).to_contain_text("Valid findings", timeout=TIMEOUT_MS)
        expect(save).to_be_enabled(timeout=TIMEOUT_MS)
        page.locator("#overall").get_by_label("Agree", exact=True).check()
        first_mark = page.locator(".finding-mark").first
        expect(first_mark).to_be_visible(timeout=TIMEOUT_MS)
        first_mark.get_by_label("Accept", exact=True).check()
        # Correcting a finding's text in place marks it "modify".
        wording = page.locator(".finding-text textarea").nth(1)
        wording.fill("Right lower lobe consolidation.")
        expect(page.locator(".finding-mark").nth(1).get_by_label("Modify")).to_be_checked(
            timeout=TIMEOUT_MS
        )
        page.locator("#added-findings textarea").fill("Small left effusion.")
        page.locator("#comment textarea").fill("Heart size fine; note the line.")
        page.locator("#reviewer textarea").fill("Reviewer 7")
        page.get_by_role("button", name="Save rating").click()
        expect(page.locator("#feedback-confirmation")).to_contain_text(
            "Rating saved", timeout=TIMEOUT_MS
        )
        page.locator("#overall").get_by_label("Disagree").check()
        page.get_by_role("button", name="Save rating").click()
        expect(page.locator("#feedback-confirmation")).to_contain_text(
            "Rating updated", timeout=TIMEOUT_MS
        )

        page.get_by_role("tab", name="Review feedback").click()
        page.get_by_role("button", name="Show feedback").click()
        expect(page.locator("#review-summary")).to_contain_text("1", timeout=TIMEOUT_MS)
        expect(page.locator("#review-summary")).to_contain_text("1 disagree")
        page.get_by_role("button", name="Export all as CSV and JSON Lines").click()
        expect(page.locator("#exports")).to_contain_text(".csv", timeout=TIMEOUT_MS)

        # The reviewer name is remembered in this browser for the next visit.
        page.reload()
        expect(page.locator("#reviewer textarea")).to_have_value("Reviewer 7", timeout=TIMEOUT_MS)
        stored = page.evaluate(
            "JSON.stringify(Object.assign({}, window.localStorage, window.sessionStorage))"
        )
        for identifier in ("Lovelace", "AL-18151210", "Ada_Lovelace_scan"):
            assert identifier not in stored
        assert page.locator("body").inner_text().count("Lovelace") == 0

    db = settings.feedback.db_path
    with FeedbackStore(db) as store:
        records = list(store.iter_all())
        assert len(records) == 1
        record = records[0]
        assert record.overall_rating == "disagree"
        assert record.reviewer == "Reviewer 7"
        assert record.comment == "Heart size fine; note the line."
        assert record.finding_ratings == {
            "cardiac_size": "accept",
            "pulmonary_findings[0]": "modify",
        }
        assert record.finding_corrections == {
            "pulmonary_findings[0]": "Right lower lobe consolidation."
        }
        assert record.added_findings == ["Small left effusion."]
        assert record.provenance["image_sha256"] == [record.image_sha256]
        assert record.provenance["template"] == "cxr"
        assert record.raw_answers == [CXR_ANSWER]
        out = tmp_path / "export.csv"
        with out.open("w", newline="", encoding="utf-8") as handle:
            store.export("csv", handle)
    stored = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    exported = out.read_text(encoding="utf-8")
    for identifier in ("Lovelace", "AL-18151210", "Ada_Lovelace_scan"):
        assert identifier.encode() not in stored
        assert identifier not in exported
    assert "Reviewer 7" in exported
