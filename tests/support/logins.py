"""Two password logins for tests of what one login may do with another's files."""

from __future__ import annotations

from medgemma_ui.passwords import hash_password
from tests.support.gradio_http import Page

PASSWORDS = {"alice": "pw-alice-11", "bob": "pw-bob-222"}
SPEC = ",".join(f"{user}:{hash_password(pw)}" for user, pw in PASSWORDS.items())


def signed_in(url: str, user: str) -> Page:
    page = Page(url)
    assert page.login(user, PASSWORDS[user]).status_code == 200
    return page
