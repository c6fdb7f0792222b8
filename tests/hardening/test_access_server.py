"""Access rules the server enforces, whatever the page shows (issue 13): login backoff and equal
cost for unknown names, a minimum hash strength, the admin right on every review and export call,
ratings saved under the login, uploads under random names that only their sender can read,
exports kept private, no framing by other sites. Against the real app on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import json
import os
import stat
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from medgemma_ui.passwords import hash_password, verify_password
from medgemma_ui.settings import Settings
from medgemma_ui.ui.access import (
    AccessConfigError,
    LoginGuard,
    make_auth,
    parse_auth_users,
    require_admin,
)
from medgemma_ui.ui.handlers.review import purge_exports
from medgemma_ui.ui.services import Services, create_services
from tests.support.app_runner import settings_for
from tests.support.gradio_http import Page, file_data
from tests.support.logins import PASSWORDS, SPEC, signed_in
from tests.support.model_server import ModelServer, free_port

ROOT = Path(__file__).resolve().parents[2]


def png_bytes(value: int = 90) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((64, 64), value, np.uint8)).save(out, "PNG")
    return out.getvalue()


@contextmanager
def app(tmp_path: Path, **server_changes: object) -> Iterator[tuple[str, Services, gr.Blocks]]:
    """The real app with logins for alice and bob (alice is an admin), its services at hand."""
    from medgemma_ui.ui import build_demo, launch_options

    with ModelServer() as model:
        settings = settings_for(model, tmp_path)
        server = replace(
            settings.server,
            auth_users=SPEC,
            admin_users=("alice",),
            prepare_workers=1,
            **server_changes,
        )
        services = create_services(settings.with_changes(server=server))
        demo = build_demo(services)
        demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(services))
        try:
            yield demo.local_url, services, demo
        finally:
            demo.close()
            services.prepare_pool.close()


# --- logins --------------------------------------------------------------------------------


def test_failed_logins_back_off_per_name_then_the_right_password_works(tmp_path):
    with app(tmp_path) as (url, _services, _demo):
        page = Page(url)
        for _ in range(5):
            assert page.login("bob", "guess").status_code == 400
        refused = page.login("bob", PASSWORDS["bob"])  # right, but too soon
        assert refused.status_code == 429
        sentence = refused.json()["detail"]
        assert "try again in 2 s" in sentence and sentence.endswith(").")
        assert int(refused.headers["retry-after"]) >= 2
        time.sleep(2.2)
        assert page.login("bob", PASSWORDS["bob"]).status_code == 200
        # The next failure after the wait doubles it.
        assert page.login("bob", "guess").status_code == 400
        assert "try again in 4 s" in page.login("bob", "guess").json()["detail"]


def test_failed_logins_back_off_per_client_address(tmp_path):
    with app(tmp_path) as (url, _services, _demo):
        page = Page(url)
        for name in ("ann", "ben", "cat", "dan", "eve"):
            assert page.login(name, "guess").status_code == 400
        assert page.login("fay", "guess").status_code == 429  # a new name, the same address
        assert page.login("alice", PASSWORDS["alice"]).status_code == 429


def test_the_backoff_doubles_up_to_its_cap_and_is_forgotten():
    now = [0.0]
    guard = LoginGuard(clock=lambda: now[0])
    for _ in range(5):
        assert guard.wait_s("name:x") == 0
        guard.failed("name:x")
    waits = []
    for _ in range(12):
        waits.append(guard.wait_s("name:x"))
        now[0] += waits[-1]
        guard.failed("name:x")
    assert waits[:4] == [2, 4, 8, 16] and max(waits) == 900
    now[0] += 3600 + 900
    assert guard.wait_s("name:x") == 0
    guard.failed("name:x")  # forgotten: the count starts again
    assert guard.wait_s("name:x") == 0


def test_unknown_and_known_names_cost_the_same():
    """One hash of the same iteration count either way: medians within 20 %."""
    check = make_auth(SPEC)
    assert check is not None

    async def timed(name: str) -> float:
        start = time.perf_counter()
        assert not await check(name, "not-the-password")
        return time.perf_counter() - start

    async def measure() -> tuple[list[float], list[float]]:
        known, unknown = [], []
        for _ in range(11):  # interleaved, so a busy moment costs both alike
            known.append(await timed("alice"))
            unknown.append(await timed("mallory"))
        return known, unknown

    known, unknown = asyncio.run(measure())
    ratio = statistics.median(unknown) / statistics.median(known)
    print(
        f"known {statistics.median(known) * 1e3:.0f} ms, unknown "
        f"{statistics.median(unknown) * 1e3:.0f} ms, ratio {ratio:.2f}"
    )
    assert 0.8 <= ratio <= 1.2


def test_the_hash_runs_off_the_event_loop():
    check = make_auth(SPEC)
    assert check is not None

    async def ticks_while_hashing() -> int:
        ticks = 0
        task = asyncio.create_task(check("alice", PASSWORDS["alice"]))
        while not task.done():
            await asyncio.sleep(0.005)
            ticks += 1
        assert task.result()
        return ticks

    assert asyncio.run(ticks_while_hashing()) >= 3  # the loop kept turning meanwhile


def test_a_weak_stored_hash_is_refused_and_the_app_does_not_start(tmp_path):
    weak = f"alice:{hash_password('pw-alice-11', iterations=1)}"
    with pytest.raises(AccessConfigError, match="under the minimum of 100,000"):
        parse_auth_users(weak)
    assert not verify_password("pw-alice-11", weak.split(":", 1)[1])
    env = {
        **os.environ,
        "MEDGEMMA_AUTH_USERS": weak,
        "MEDGEMMA_PORT": str(free_port()),
        "MEDGEMMA_PREPARE_WORKERS": "0",
        "MEDGEMMA_FEEDBACK_DB": str(tmp_path / "f.sqlite3"),
        "PYTHONPATH": str(ROOT),  # run from tmp_path: no .env of the checkout is read
    }
    started = subprocess.run(
        [sys.executable, "-m", "medgemma_ui", "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode != 0
    last = started.stderr.strip().splitlines()[-1]
    assert "under the minimum of 100,000" in last and "Traceback" not in started.stderr


# --- the admin right -----------------------------------------------------------------------


def test_review_and_export_called_by_name_are_refused_to_a_non_admin(tmp_path):
    with app(tmp_path) as (url, _services, _demo):
        for user, allowed in (("bob", False), ("alice", True)):
            page = signed_in(url, user)
            for name in ("show", "export"):
                called = page.client.post(f"/gradio_api/call/{name}", json={"data": ["", ""]})
                assert called.status_code == 200
                answer = page.client.get(f"/gradio_api/call/{name}/{called.json()['event_id']}")
                if allowed:
                    assert "event: complete" in answer.text
                else:
                    assert "event: error" in answer.text
                    assert "session organisers; bob is not one" in answer.text
        v2 = signed_in(url, "bob").client.post("/gradio_api/call/v2/export", json={})
        assert v2.status_code == 404
        assert "no public API endpoint named /export" in v2.json()["error"]


def test_the_admin_password_backs_off_too(tmp_path):
    settings = Settings.from_env({})
    settings = settings.with_changes(
        feedback=replace(settings.feedback, db_path=tmp_path / "f.db", admin_password="s3cret"),
        server=replace(settings.server, prepare_workers=0),
    )
    services = create_services(settings)
    for _ in range(5):
        with pytest.raises(gr.Error, match="not right"):
            require_admin(services, None, "guess")
    with pytest.raises(gr.Error, match="try again in 2 s"):
        require_admin(services, None, "s3cret")


def test_without_admins_or_password_only_an_app_without_logins_is_open(tmp_path):
    base = Settings.from_env({})
    feedback = replace(base.feedback, db_path=tmp_path / "f.db")
    open_app = create_services(
        base.with_changes(feedback=feedback, server=replace(base.server, prepare_workers=0))
    )
    assert require_admin(open_app, None) is None
    with_logins = create_services(
        base.with_changes(
            feedback=feedback, server=replace(base.server, prepare_workers=0, auth_users=SPEC)
        )
    )
    with pytest.raises(gr.Error, match="none is set up on this server"):
        require_admin(with_logins, None)


# --- ratings, uploads, files, exports, framing ---------------------------------------------


def test_a_rating_is_saved_under_the_login_whatever_name_is_typed(tmp_path):
    from medgemma_ui.feedback import FeedbackStore

    with app(tmp_path) as (url, services, _demo):
        png = tmp_path / "x.png"
        png.write_bytes(png_bytes())
        client = Client(url, auth=("bob", PASSWORDS["bob"]), verbose=False, analytics_enabled=False)
        client.predict(handle_file(str(png)), template="cxr", api_name="/analyze")
        message, label = client.predict(
            overall="agree", reviewer="Dr Alice Other", api_name="/save_feedback"
        )
        assert "Rating saved" in message and label == "Dr Alice Other"
        with FeedbackStore(services.settings.feedback.db_path) as store:
            (record,) = store.iter_all()
    assert record.reviewer == "bob"


def test_uploads_get_random_names_and_only_their_sender_reads_them(tmp_path):
    with app(tmp_path) as (url, _services, _demo):
        bob, alice = signed_in(url, "bob"), signed_in(url, "alice")
        uploaded = bob.upload(png_bytes(), "Doe_John_MRN-12345.png")
        (path,) = uploaded.json()
        assert "Doe" not in path and "12345" not in path and Path(path).name == "upload"
        assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600
        assert stat.S_IMODE(Path(path).parent.stat().st_mode) == 0o700
        assert bob.client.get(f"/gradio_api/file={path}").status_code == 200
        assert alice.client.get(f"/gradio_api/file={path}").status_code == 403
        assert alice.client.get(f"/gradio_api/file/{path}").status_code == 403  # the old route
        assert bob.client.get(f"/gradio_api/file/{path}").status_code == 200
        assert bob.run("upload", "change", [file_data(path), None]).data[0] is not None
        theirs = alice.run("upload", "change", [file_data(path), None])
        assert theirs.data[0] is None and "uploaded by another user" in theirs.data[1]
        # Nor can alice join bob's session to read its queue.
        alice.session_hash = bob.session_hash
        joined = alice.run("upload", "change", [file_data(path), None])
        assert not joined.success and "belongs to another sign-in" in (joined.error or "")


def test_exports_are_private_in_the_data_folder_and_purged(tmp_path):
    from medgemma_ui.feedback import FeedbackStore
    from tests.feedback.factory import make_record

    with app(tmp_path) as (url, services, demo):
        with FeedbackStore(services.settings.feedback.db_path) as store:
            store.save(make_record(0, 0))
        page = signed_in(url, "alice")
        called = page.client.post("/gradio_api/call/export", json={"data": ["", ""]})
        answer = page.client.get(f"/gradio_api/call/export/{called.json()['event_id']}")
        update, note = json.loads(answer.text.split("data:", 1)[1].split("\n", 1)[0])
        assert note.startswith("Exported 1 rating")
        files = [f["path"] for f in update["value"]]
        written = sorted(services.exports)
        assert len(written) == 2
        for path in map(Path, written):
            assert path.parent == services.exports_dir
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        for downloaded in files:  # Gradio's copy, served to the admin
            assert stat.S_IMODE(Path(downloaded).stat().st_mode) == 0o600
        # Gradio's hourly purge of the uploads covers the exports ...
        assert any(services.exports is s for s in demo.temp_file_sets)
        # ... and so do the files handed to pages (PACS files, result exports, shown PNGs).
        assert any(services.given is s for s in demo.temp_file_sets)
        # ... and what an earlier run left is deleted at the next export.
        old = services.exports_dir / "feedback-20000101-000000-0000.csv"
        old.write_text("x")
        os.utime(old, (0, 0))
        purge_exports(services.exports_dir)
        assert not old.exists() and all(Path(p).exists() for p in written)
        # The originals are never served by the file routes.
        assert page.client.get(f"/gradio_api/file={written[0]}").status_code == 403


def test_no_other_site_may_frame_the_app(tmp_path):
    with app(tmp_path) as (url, _services, _demo):
        page = Page(url)
        for path in ("/", "/config", "/gradio_api/info"):
            response = page.client.get(path)
            assert response.headers["content-security-policy"] == "frame-ancestors 'self'"
            assert response.headers["x-frame-options"] == "SAMEORIGIN"
    with app(tmp_path / "space", on_spaces=True) as (url, _services, _demo):
        response = Page(url).client.get("/")
        assert "https://huggingface.co" in response.headers["content-security-policy"]
        assert "x-frame-options" not in response.headers


def test_a_series_upload_is_previewed_for_its_sender_only(tmp_path):
    """The series preview reads the uploads too: its sender's, not another login's."""
    from tests.support.series import write_ct_series

    with app(tmp_path) as (url, _services, _demo):
        bob, alice = signed_in(url, "bob"), signed_in(url, "alice")
        slices = write_ct_series(tmp_path / "series", 4)
        files = [bob.file_data(path.read_bytes(), "slice.dcm") for path in slices]
        shown = bob.run("study-files", "change", [files, None, None])
        assert shown.success and shown.data[0] is not None
        theirs = alice.run("study-files", "change", [files, None, None])
        assert theirs.data[0] is None and "uploaded by another user" in str(theirs.data[1])
