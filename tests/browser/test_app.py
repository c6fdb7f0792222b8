"""A clinician's path through the real page in Debian's chromium, against a loopback model."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.app_runner import running_app, settings_for
from tests.support.model_server import CXR_ANSWER, ModelServer, Script

pytestmark = pytest.mark.browser

EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "examples"
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
    page.get_by_role("option", name=option).click()


def test_dicom_preview_window_and_analysis(page: Page, app_url: str):
    page.goto(app_url)
    expect(page.locator("#notice")).to_contain_text("not a medical device")
    upload(page, EXAMPLES / "ct_head.dcm")
    first = preview_src(page)
    expect(page.locator("#facts")).to_contain_text("CT")
    expect(page.locator("#window input")).to_have_value(
        "MedGemma CT encoding (3 windows as RGB)", timeout=TIMEOUT_MS
    )

    choose(page, "window", "Brain (W 80 / L 40)")
    expect(page.locator("#facts")).to_contain_text("Brain (W 80", timeout=TIMEOUT_MS)
    assert preview_src(page) != first

    page.get_by_role("button", name="Analyze").click()
    expect(page.locator("#raw textarea")).to_have_value(CXR_ANSWER, timeout=TIMEOUT_MS)
    expect(page.locator("#parsed")).to_contain_text("cardiac_size", timeout=TIMEOUT_MS)
    expect(page.locator("#validity")).to_contain_text("Valid findings")
    expect(page.locator("#timings")).to_contain_text("total")

    # Run history is off: nothing about the upload is kept in the browser.
    stored = page.evaluate("JSON.stringify(Object.assign({}, window.localStorage))")
    assert "ct_head" not in stored


def test_text_file_gets_a_clear_sentence(page: Page, app_url: str, tmp_path: Path):
    notes = tmp_path / "notes.txt"
    notes.write_text("Discharge letter.\n" * 50)
    page.goto(app_url)
    upload(page, notes)
    expect(page.locator("#facts")).to_contain_text("cannot be used", timeout=TIMEOUT_MS)
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
        expect(page.locator("#raw textarea")).to_have_value("")
