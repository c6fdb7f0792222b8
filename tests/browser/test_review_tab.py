"""The review tab in Debian's chromium: a sentence when empty, readable counts and headers."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from playwright.sync_api import Page

from medgemma_ui.feedback import FeedbackStore
from tests.support.app_runner import running_app
from tests.support.model_server import free_port
from tests.ui.test_review import make_settings, records

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("saved", [0, 3], ids=["empty", "three-ratings"])
def test_review_tab_in_a_browser(page: Page, tmp_path, saved):
    settings = make_settings(tmp_path)
    settings = settings.with_changes(server=replace(settings.server, port=free_port()))
    store = FeedbackStore(settings.feedback.db_path)
    for record in records("agree", "disagree", None)[:saved]:
        store.save(record)
    with running_app(settings) as url:
        page.set_viewport_size({"width": 1440, "height": 900})
        page.goto(url)
        page.get_by_role("tab", name="Review feedback").click()
        page.locator("#show-review").click()
        summary = page.locator("#review-summary")
        if saved:
            summary.get_by_text("3 ratings").wait_for()
            page.locator("#by-template").get_by_text("Chest X-ray · 50%").first.wait_for()
            table = page.locator("#recent-feedback")
            assert table.is_visible()
            assert "Overall rating" in table.inner_text()
            assert "overall_rating" not in table.inner_text()
        else:
            summary.get_by_text("No ratings yet.").wait_for()
            assert not page.locator("#by-template").is_visible()
            assert not page.locator("#recent-feedback").is_visible()
        assert not page.locator("#exports").is_visible()
        page.locator("#export-feedback").click()
        note = page.locator("#export-note")
        if saved:
            note.get_by_text("Exported 3 ratings").wait_for()
            page.locator("#exports").get_by_text(".jsonl").wait_for()
        else:
            note.get_by_text("No ratings to export yet.").wait_for()
            assert not page.locator("#exports").is_visible()
        text = page.locator("body").inner_text()
        # Our own sentences (the rows' comments are test data that say "rating 2").
        prose = summary.inner_text() + note.inner_text()
        if saved:
            prose += page.locator("#recent-feedback").inner_text().splitlines()[0]
    assert str(tmp_path) not in text and "/tmp" not in text and "sqlite3" not in text
    assert "MEDGEMMA_" not in text
    assert not re.search(r"\b1 ratings\b|\b[02-9] rating\b", prose), prose
