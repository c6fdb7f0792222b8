"""OAuth mode (`MEDGEMMA_HF_OAUTH_ORGS`, issue 13): every route and event that touches a file
refuses whoever is not signed in as a member of an allowed organisation, on the server.

The app runs as on a Space: Gradio's real OAuth routes and session middleware (its module-level
OAuth settings and `get_space` patched, since they are read from a Space's environment), with the
Hub's `whoami` replaced by a function. A signed-in browser is a session cookie signed with the
secret Gradio derives, exactly as the callback route would set it.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from base64 import b64encode
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from itsdangerous import TimestampSigner
from PIL import Image

from medgemma_ui.settings import ServerSettings, SettingsError
from medgemma_ui.ui.access import OrgGate
from medgemma_ui.ui.services import create_services
from tests.support.app_runner import settings_for
from tests.support.gradio_http import Page, file_data
from tests.support.model_server import ModelServer

SECRET = "test-oauth-client-secret"
ORG = "st-elsewhere-radiology"
TOKENS = {
    "member-token": {"name": "dr-member", "orgs": [{"name": ORG}]},
    "outsider-token": {"name": "someone", "orgs": [{"name": "other-org"}]},
}


def whoami(token: str) -> dict:
    return TOKENS[token]


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((64, 64), 77, np.uint8)).save(out, "PNG")
    return out.getvalue()


def session_cookie(token: str) -> str:
    """The `session` cookie Gradio's /login/callback sets (Starlette's SessionMiddleware)."""
    info = {
        "access_token": token,
        "token_type": "bearer",
        "scope": "openid profile",
        "expires_at": int(time.time()) + 3600,
        "userinfo": {
            "preferred_username": TOKENS[token]["name"],
            "name": TOKENS[token]["name"],
            "profile": "",
            "picture": "",
        },
    }
    data = b64encode(json.dumps({"oauth_info": info}).encode())
    key = hashlib.sha256((SECRET + "-v4").encode()).hexdigest()
    return TimestampSigner(key).sign(data).decode()


@pytest.fixture(scope="module")
def oauth_app(tmp_path_factory) -> Iterator[str]:
    import gradio.oauth

    from medgemma_ui.ui import build_demo, launch_options

    patch = pytest.MonkeyPatch()
    patch.setattr(gradio.oauth, "get_space", lambda: "test/space")
    patch.setattr(gradio.oauth, "OAUTH_CLIENT_ID", "test-client")
    patch.setattr(gradio.oauth, "OAUTH_CLIENT_SECRET", SECRET)
    patch.setattr(gradio.oauth, "OAUTH_SCOPES", "openid profile")
    patch.setattr(gradio.oauth, "OPENID_PROVIDER_URL", "http://127.0.0.1:9")  # never fetched
    tmp_path = tmp_path_factory.mktemp("oauth")
    with ModelServer() as model:
        settings = settings_for(model, tmp_path)
        server = replace(settings.server, oauth_orgs=(ORG,), prepare_workers=1)
        # A PACS address that nothing answers: its panel is shown; refused calls never reach it.
        pacs = replace(settings.pacs, url="http://127.0.0.1:9/dicom-web", timeout_s=2.0)
        services = create_services(settings.with_changes(server=server, pacs=pacs))
        services.org_gate = OrgGate((ORG,), whoami=whoami)
        demo = build_demo(services)
        demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(services))
        try:
            yield demo.local_url
        finally:
            demo.close()
            services.prepare_pool.close()
            patch.undo()


def browser(url: str, token: str | None) -> Page:
    page = Page(url)
    if token:
        page.client.cookies.set("session", session_cookie(token))
    return page


def test_an_upload_needs_a_signed_in_member(oauth_app):
    for token in (None, "outsider-token"):
        refused = browser(oauth_app, token).upload(png_bytes(), "scan.png")
        assert refused.status_code == 401
        assert (
            refused.json()["detail"]
            == f"Sign in with a Hugging Face account that belongs to {ORG} to use this app."
        )
    accepted = browser(oauth_app, "member-token").upload(png_bytes(), "scan.png")
    assert accepted.status_code == 200


def test_preview_window_and_frame_events_need_a_signed_in_member(oauth_app):
    member = browser(oauth_app, "member-token")
    uploaded = file_data(member.upload(png_bytes(), "scan.png").json()[0])
    shown = member.run("upload", "change", [uploaded, None])
    assert shown.success and shown.data[0] is not None
    for token in (None, "outsider-token"):
        page = browser(oauth_app, token)
        for elem_id, trigger, data in (
            ("upload", "change", [uploaded, None]),
            ("window", "input", [uploaded, "default", 0, None]),
            ("frame", "input", [uploaded, "default", 2, None]),
            ("frame", "release", [uploaded, "default", 2, None]),
        ):
            outcome = page.run(elem_id, trigger, data)
            assert not outcome.success, (token, elem_id, trigger)
            assert "Sign in with a Hugging Face account" in (outcome.error or "")


def test_analyze_by_name_needs_a_signed_in_member(oauth_app):
    member = browser(oauth_app, "member-token")
    path = member.upload(png_bytes(), "scan.png").json()[0]
    page = browser(oauth_app, None)
    called = page.client.post("/gradio_api/call/v2/analyze", json={"file_path": file_data(path)})
    answer = page.client.get(f"/gradio_api/call/v2/analyze/{called.json()['event_id']}")
    assert "event: error" in answer.text and "Sign in with a Hugging Face account" in answer.text


def test_outside_a_space_oauth_mode_refuses_to_start_with_a_sentence():
    with pytest.raises(SettingsError, match="only a Space with `hf_oauth: true`"):
        ServerSettings.from_env({"MEDGEMMA_HF_OAUTH_ORGS": ORG})
    on_a_space = ServerSettings.from_env(
        {"MEDGEMMA_HF_OAUTH_ORGS": ORG, "OAUTH_CLIENT_ID": "x", "SPACE_ID": "org/app"}
    )
    assert on_a_space.oauth_orgs == (ORG,)


def test_gradio_oauth_extra_is_installed():
    import authlib  # noqa: F401
    import itsdangerous  # noqa: F401

    requirements = (Path(__file__).resolve().parents[2] / "requirements.txt").read_text()
    assert "gradio[oauth]==" in requirements


def test_the_pacs_panel_needs_a_signed_in_member(oauth_app):
    """Study facts are patient data: looking a study up is refused before any PACS is asked."""
    for token in (None, "outsider-token"):
        refused = browser(oauth_app, token).run("pacs-find", "click", ["ACC123"])
        assert not refused.success
        assert f"belongs to {ORG}" in (refused.error or "")
    member = browser(oauth_app, "member-token").run("pacs-find", "click", ["ACC123"])
    assert member.success  # asked the (absent) PACS: a sentence in the panel, not a refusal
