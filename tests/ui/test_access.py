"""Access control: hashed-password login through the real app, and the OAuth organisation gate."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from medgemma_ui.passwords import hash_password, verify_password
from medgemma_ui.ui.access import AccessConfigError, OrgGate, make_auth, parse_auth_users
from tests.support.app_runner import running_app, settings_for
from tests.support.model_server import CXR_ANSWER, ModelServer


def test_hash_round_trip_and_salt():
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second  # salted
    assert verify_password("correct horse", first)
    assert not verify_password("wrong horse", first)
    assert not verify_password("correct horse", "plain-text-password")


def test_auth_spec_is_validated():
    spec = f"alice:{hash_password('pw-alice-1')},bob:{hash_password('pw-bob-22')}"
    assert set(parse_auth_users(spec)) == {"alice", "bob"}
    check = make_auth(spec)
    assert check is not None
    assert asyncio.run(check("alice", "pw-alice-1"))
    assert not asyncio.run(check("alice", "pw-bob-22"))
    assert not asyncio.run(check("mallory", "pw-alice-1"))
    assert make_auth("") is None
    with pytest.raises(AccessConfigError, match="hash-password"):
        parse_auth_users("alice:secret")


def test_hash_password_cli_prints_a_usable_entry():
    result = subprocess.run(
        [sys.executable, "-m", "medgemma_ui", "hash-password", "dr_who"],
        input="tardis-1963\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    line = result.stdout.strip()
    assert "tardis-1963" not in line
    assert asyncio.run(make_auth(line)("dr_who", "tardis-1963"))


def test_hash_password_cli_does_not_import_gradio():
    code = textwrap.dedent(
        """
        import sys
        from medgemma_ui.__main__ import main

        code = main(["hash-password", "dr_who"])
        print(code, sorted(m for m in sys.modules if m.split(".")[0] == "gradio"))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        input="tardis-1963\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    entry, status = result.stdout.strip().splitlines()
    assert status == "0 []"
    assert entry.startswith("dr_who:pbkdf2_sha256$")


def test_login_required_when_users_configured(tmp_path):
    spec = f"clinician:{hash_password('ward-round-7')}"
    png = tmp_path / "x.png"
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(png)
    with ModelServer() as server:
        settings = settings_for(server, tmp_path)
        settings = settings.with_changes(server=replace(settings.server, auth_users=spec))
        with running_app(settings) as url:
            with pytest.raises(Exception):  # noqa: B017 - gradio_client raises its own types
                Client(url, verbose=False, analytics_enabled=False)
            with pytest.raises(Exception):  # noqa: B017
                Client(url, auth=("clinician", "guess"), verbose=False, analytics_enabled=False)
            client = Client(
                url, auth=("clinician", "ward-round-7"), verbose=False, analytics_enabled=False
            )
            _preview, raw, *_ = client.predict(
                handle_file(str(png)),
                None,
                0,
                "openai",
                "cxr",
                "",
                512,
                0.0,
                True,
                0,
                api_name="/analyze",
            )
    assert raw == CXR_ANSWER


def test_org_gate_allows_members_only_and_caches():
    calls: list[str] = []

    def whoami(token: str) -> dict:
        calls.append(token)
        if token == "member-token":
            return {"name": "dr-a", "orgs": [{"name": "St-Elsewhere-Radiology"}]}
        if token == "broken":
            raise RuntimeError("hub down")
        return {"name": "someone", "orgs": [{"name": "other-org"}]}

    gate = OrgGate(("st-elsewhere-radiology",), whoami=whoami)
    assert gate.enabled
    assert gate.allowed("member-token")
    assert gate.allowed("member-token")
    assert calls.count("member-token") == 1  # cached
    assert not gate.allowed("outsider-token")
    assert not gate.allowed(None)
    assert not gate.allowed("broken")
    assert "st-elsewhere-radiology" in gate.refusal()
    assert OrgGate(()).allowed(None)  # no orgs configured: open
