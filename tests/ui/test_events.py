"""The caller-checking event wrappers (`ui/events.py`): Gradio still fills in the request and the
sign-in token by the event's signature, the endpoint keeps the body's name, and the check runs
before the body."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest
from gradio.helpers import special_args
from gradio.utils import get_function_params

from medgemma_ui.settings import Settings
from medgemma_ui.ui.access import CALLER, OrgGate
from medgemma_ui.ui.events import admin_only, for_caller
from medgemma_ui.ui.services import create_services

ORG = "st-elsewhere-radiology"


def make_services(tmp_path: Path, **feedback_changes: object):
    base = Settings.from_env({})
    feedback = replace(base.feedback, db_path=tmp_path / "f.sqlite3", **feedback_changes)
    services = create_services(
        base.with_changes(feedback=feedback, server=replace(base.server, prepare_workers=0))
    )
    services.org_gate = OrgGate(
        (ORG,), whoami=lambda token: {"name": "dr-member", "orgs": [{"name": ORG}]}
    )
    return services


def signed_in_request() -> SimpleNamespace:
    """What Gradio reads the sign-in from (the session), and what the app reads the caller from."""
    oauth_info = {
        "access_token": "member-token",
        "scope": "openid profile",
        "expires_at": int(time.time()) + 3600,
        "userinfo": {"preferred_username": "dr-member"},
    }
    return SimpleNamespace(session={"oauth_info": oauth_info}, session_hash="page-1", username=None)


def as_gradio_calls(fn, inputs: list, request) -> list:
    """The arguments Gradio calls `fn` with for these input values (`helpers.special_args`)."""
    args, *_ = special_args(fn, list(inputs), request=request)
    return args


async def test_for_caller_gets_the_request_and_token_and_runs_the_body_as_the_caller(tmp_path):
    services = make_services(tmp_path)
    seen = []

    @for_caller(services)
    async def on_upload(path: str | None, template: str | None) -> dict:
        """Docs stay."""
        seen.append((path, template, CALLER.get()))
        return {"done": True}

    assert on_upload.__name__ == "on_upload" and on_upload.__doc__ == "Docs stay."
    assert [name for name, *_ in get_function_params(on_upload)] == ["path", "template"]
    request = signed_in_request()
    args = as_gradio_calls(on_upload, ["scan.png", "cxr"], request)
    assert args[:3] == ["scan.png", "cxr", request]
    assert isinstance(args[3], gr.OAuthToken) and args[3].token == "member-token"
    assert await on_upload(*args) == {"done": True}
    ((path, template, caller),) = seen
    assert (path, template) == ("scan.png", "cxr")
    assert caller.login == "dr-member" and caller.owner == "login:dr-member"
    assert CALLER.get() is None  # only around the body


async def test_for_caller_refuses_a_caller_who_is_not_signed_in_before_the_body(tmp_path):
    services = make_services(tmp_path)
    ran = []

    @for_caller(services)
    async def on_upload(path: str | None) -> None:
        ran.append(path)

    anonymous = SimpleNamespace(session={}, session_hash="page-2", username=None)
    args = as_gradio_calls(on_upload, ["scan.png"], anonymous)
    assert args == ["scan.png", anonymous, None]
    with pytest.raises(gr.Error, match=f"belongs to {ORG}"):
        await on_upload(*args)
    assert ran == []


async def test_admin_only_checks_the_password_input_before_the_body(tmp_path):
    services = make_services(tmp_path, admin_password="s3cret")
    services.org_gate = OrgGate(())  # no organisations: the password alone decides
    ran = []

    @admin_only(services)
    async def show(session: str, group_by: str) -> tuple:
        ran.append((session, group_by))
        return session, group_by

    assert show.__name__ == "show"
    params = [name for name, *_ in get_function_params(show)]
    assert params == ["password", "session", "group_by"]
    request = SimpleNamespace(session={}, session_hash="page-3", username=None, client=None)
    with pytest.raises(gr.Error, match="not right"):
        await show(*as_gradio_calls(show, ["guess", "ward-7", "template"], request))
    assert ran == []
    allowed = await show(*as_gradio_calls(show, ["s3cret", "ward-7", "template"], request))
    assert allowed == ("ward-7", "template") and ran == [("ward-7", "template")]
