"""The blinded comparison: both arms through the real pipeline against a loopback model, hidden
and randomly placed until the vote, then revealed; the vote keeps both arms' provenance."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from gradio import Error as GradioError
from PIL import Image

from medgemma_ui.__main__ import main
from medgemma_ui.feedback import FeedbackStore
from medgemma_ui.feedback.comparison import Arm
from medgemma_ui.imaging import prepare
from medgemma_ui.ui.handlers import compare
from medgemma_ui.ui.services import create_services
from tests.support.app_runner import settings_for
from tests.support.model_server import ModelServer, Script

PROMPT_B = "Report the chest radiograph as JSON with the fields of the template."
ARMS = (Arm("Own prompt", "openai", "cxr"), Arm("Edited prompt", "openai", "cxr", PROMPT_B))


def png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (80, 60), dtype=np.uint8)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def services(tmp_path):
    with ModelServer(Script()) as server:
        settings = settings_for(server, tmp_path)
        settings = settings.with_changes(server=replace(settings.server, prepare_workers=0))
        services = create_services(settings)
        services.model_server = server  # type: ignore[attr-defined]
        yield services
        services.feedback_store.close()


def make_session(services, count: int = 2):
    images = []
    for n in range(count):
        prepared = prepare(png(n))
        images.append((prepared.jpeg, prepared.info.to_json()))
    return services.feedback_store.create_comparison("Prompt pilot", ARMS, images)


async def collect(agen) -> list[dict]:
    return [update async for update in agen]


async def test_both_arms_hidden_then_revealed_and_the_vote_keeps_their_provenance(services):
    session = make_session(services)
    updates = await collect(compare.next_comparison(session.id, "Dr A", None, services))
    first, last = updates[0], updates[-1]
    assert "both answers are being written" in first["compare_status"]
    assert first["compare_image"] is not None
    pending = last["compare_state"]
    assert pending.position == 0 and pending.left in ("a", "b")
    assert last["compare_vote"]["interactive"] and last["compare_submit"]["interactive"]
    shown = " ".join(str(v) for k, v in last.items() if k != "compare_state")  # on screen
    for secret in ("Own prompt", "Edited prompt", "openai", "medgemma-test"):
        assert secret not in shown  # nothing names an arm before the vote
    assert "Cardiac size" in last["compare_left"] and "Cardiac size" in last["compare_right"]
    sent = [r.body["messages"][0]["content"][-1]["text"] for r in services.model_server.requests]
    assert len(sent) == 2 and PROMPT_B in sent and any(PROMPT_B not in t for t in sent)

    state, reveal = await compare.vote(pending, "right", "B reads better", "Dr A", services)
    assert state.voted
    right_arm = "b" if pending.left == "a" else "a"
    assert f"Right is better (arm {right_arm.upper()}" in reveal
    assert "Own prompt" in reveal and "Edited prompt" in reveal and "medgemma-test" in reveal
    [stored] = list(services.feedback_store.iter_votes())
    assert stored.vote == right_arm and stored.left_arm == pending.left
    assert stored.reviewer == "Dr A" and stored.comment == "B reads better"
    assert stored.session_label == "Prompt pilot" and stored.item_position == 0
    assert stored.provenance_b["prompt"] == PROMPT_B and stored.provenance_b["prompt_edited"]
    assert not stored.provenance_a["prompt_edited"]
    assert stored.provenance_a["image_sha256"] == [stored.image_sha256]
    assert stored.answer_a["valid"] and stored.answer_b["parsed"]["cardiac_size"] == "normal"
    with pytest.raises(GradioError, match="already saved"):
        await compare.vote(state, "left", "", "Dr A", services)

    # The next image for Dr A, then the end of the session; Dr B starts from the first.
    updates = await collect(compare.next_comparison(session.id, "Dr A", state, services))
    assert updates[-1]["compare_state"].position == 1
    await compare.vote(updates[-1]["compare_state"], "both_good", "", "Dr A", services)
    updates = await collect(compare.next_comparison(session.id, "Dr A", None, services))
    assert updates[-1]["compare_status"].startswith("**Done**: Dr A has voted on all 2 images")
    updates = await collect(compare.next_comparison(session.id, "Dr B", None, services))
    assert updates[-1]["compare_state"].position == 0


async def test_the_left_side_is_drawn_at_random(services, monkeypatch):
    session = make_session(services, count=1)
    seen = set()
    for draw in (0, 1):
        monkeypatch.setattr(compare.secrets, "randbelow", lambda n, d=draw: d)
        updates = await collect(compare.next_comparison(session.id, "Dr A", None, services))
        pending = updates[-1]["compare_state"]
        seen.add(pending.left)
        assert pending.side_of("left") == pending.left != pending.side_of("right")
    assert seen == {"a", "b"}


async def test_an_arm_on_a_backend_that_is_not_set_up_says_so(services):
    images = [(prepare(png(0)).jpeg, prepare(png(0)).info.to_json())]
    arms = (ARMS[0], Arm("Vertex", "vertex", "cxr"))
    session = services.feedback_store.create_comparison("Broken", arms, images)
    updates = await collect(compare.next_comparison(session.id, "", None, services))
    assert "**Not compared.**" in updates[-1]["compare_status"]
    assert "not set up on this server" in updates[-1]["compare_status"]
    with pytest.raises(GradioError, match="nothing to vote on"):
        await compare.vote(updates[-1]["compare_state"], "left", "", "", services)


def test_the_cli_sets_up_a_session_from_a_folder(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "Smith_John_studies"
    folder.mkdir()
    (folder / "Smith_John_1.png").write_bytes(png(1))
    (folder / "Smith_John_2.png").write_bytes(png(2))
    (folder / "Smith_John_notes.txt").write_text("not an image")
    db = tmp_path / "f.db"
    argv = ["feedback", "comparison", "create", "Pilot", "--db", str(db)]
    argv += ["--arm", "label=A,backend=openai,template=cxr", "--arm", "label=B,backend=vertex"]
    assert main([*argv, str(folder)]) == 0
    err = capsys.readouterr().err
    assert "'Pilot': 2 of 3 images" in err and "Image 3 was left out" in err
    assert "Smith" not in err
    with FeedbackStore(db) as store:
        [session] = store.comparisons()
        assert session.arms[1] == Arm("B", "vertex", "auto")
        item = store.comparison_item(session.id, 0)
        assert item is not None and item.info["size"] == [896, 896]
    assert main(["feedback", "comparison", "list", "--db", str(db)]) == 0
    assert '"label": "Pilot"' in capsys.readouterr().out
    assert main([*argv, str(folder)]) == 2  # the same name again
    assert "already a comparison session called 'Pilot'" in capsys.readouterr().err
