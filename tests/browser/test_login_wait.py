"""The sign-in page in Debian's chromium after repeated failures: it says when to try again (the
server's 429 sentence), then the right password signs in once the wait is over (issue 13)."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from playwright.sync_api import Page

from medgemma_ui.passwords import hash_password
from medgemma_ui.settings import Settings
from tests.support.app_runner import running_app
from tests.support.model_server import free_port

pytestmark = pytest.mark.browser


def test_the_sign_in_page_says_when_to_try_again(page: Page, tmp_path):
    base = Settings.from_env({})
    settings = base.with_changes(
        feedback=replace(base.feedback, db_path=tmp_path / "f.sqlite3"),
        server=replace(
            base.server,
            port=free_port(),
            prepare_workers=0,
            auth_users=f"dr_who:{hash_password('tardis-1963')}",
        ),
    )
    with running_app(settings) as url:
        page.goto(url)

        def sign_in(password: str) -> int:
            page.get_by_label("username").fill("dr_who")
            page.get_by_label("password").fill(password)
            with page.expect_response(lambda r: r.url.endswith("/login")) as answer:
                page.get_by_role("button", name="Login").click()
            return answer.value.status

        for _ in range(5):
            assert sign_in("wrong") == 400
        page.get_by_text("Incorrect Credentials").wait_for()
        assert sign_in("tardis-1963") == 429  # right, but too soon
        wait = page.locator("#login-wait")
        wait.wait_for()
        assert "try again in" in wait.inner_text() and "(after " in wait.inner_text()
        time.sleep(2.2)
        sign_in("tardis-1963")
        page.get_by_role("tab", name="Analyze").wait_for()
