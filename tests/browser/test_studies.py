"""The study modes in the real page: a series uploaded as several files shows the numbered strip
of what was sent, a prior and a current image show side by side, a localisation draws its box."""

from __future__ import annotations

import re

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.browser.test_app import TIMEOUT_MS, choose, preview_src, upload
from tests.support.app_runner import running_app, settings_for
from tests.support.model_server import ModelServer, Script
from tests.support.series import write_ct_series
from tests.ui.test_studies_api import answer_for

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    with (
        ModelServer(Script(responder=answer_for, token_size=12)) as server,
        running_app(settings_for(server, tmp_path_factory.mktemp("studies"))) as url,
    ):
        yield url


def analyze_and_wait(page: Page) -> None:
    page.locator("#analyze").click()
    expect(page.locator("#status")).to_contain_text("Done", timeout=TIMEOUT_MS * 3)


def test_a_series_shows_the_slices_sent_as_a_numbered_strip(page: Page, app_url, tmp_path):
    files = write_ct_series(tmp_path / "series", 12)
    page.goto(app_url)
    choose(page, "template", "CT volume (MedGemma 1.5)")
    study = page.locator("#study-files")
    expect(study).to_be_visible(timeout=TIMEOUT_MS)
    study.locator("input[type=file]").set_input_files([str(f) for f in files])
    expect(page.locator("#facts-summary")).to_contain_text(
        "12 slices, 12 will be sent", timeout=TIMEOUT_MS
    )
    preview_src(page)
    analyze_and_wait(page)
    strip = page.locator("#sent-strip")
    expect(strip).to_be_visible()
    expect(strip.get_by_text("SLICE 12")).to_be_attached(timeout=TIMEOUT_MS)
    expect(page.locator("#provenance-line")).to_contain_text("12 images")


def test_prior_and_current_show_side_by_side(page: Page, app_url, tmp_path):
    prior, current = tmp_path / "prior.png", tmp_path / "current.png"
    Image.new("L", (300, 400), 60).save(prior)
    Image.new("L", (300, 400), 200).save(current)
    page.goto(app_url)
    choose(page, "template", "Chest X-ray: prior vs current")
    expect(page.locator("#prior-upload")).to_be_visible(timeout=TIMEOUT_MS)
    upload(page, current)
    preview_src(page)
    page.locator("#prior-upload input[type=file]").set_input_files(str(prior))
    analyze_and_wait(page)
    images = page.locator("#compare-view img")
    expect(images).to_have_count(2, timeout=TIMEOUT_MS)


def test_a_localisation_draws_its_box(page: Page, app_url, tmp_path):
    image = tmp_path / "portrait.png"
    Image.new("L", (600, 900), 90).save(image)
    page.goto(app_url)
    choose(page, "template", "Chest X-ray: locate anatomy")
    target = page.locator("#target input")
    expect(target).to_have_value("right lung", timeout=TIMEOUT_MS)
    target.fill("left lung")
    target.press("Enter")
    upload(page, image)
    preview_src(page)
    analyze_and_wait(page)
    boxes = page.locator("#boxes-view")
    expect(boxes).to_be_visible()
    expect(boxes.get_by_text("left lung")).to_be_attached(timeout=TIMEOUT_MS)
    expect(page.locator("#box-correction textarea, #box-correction input")).to_have_value(
        re.compile(r"^[\d.]+, [\d.]+, [\d.]+, [\d.]+$")
    )
