"""Comparison sessions and votes in either store."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from medgemma_ui.feedback import FeedbackStore
from medgemma_ui.feedback.agreement import comparisons
from medgemma_ui.feedback.comparison import Arm, ComparisonVote

Target = Callable[..., Path | str]
ARMS = (Arm("Small model", "openai", "cxr"), Arm("Large model", "vertex", "cxr"))


def jpeg(n: int) -> bytes:
    return f"\xff\xd8 image {n}".encode()


def vote(session, position: int, reviewer: str, choice: str, left: str = "a") -> ComparisonVote:
    return ComparisonVote(
        comparison_id=session.id,
        item_position=position,
        session_label=session.label,
        reviewer=reviewer,
        image_sha256=hashlib.sha256(jpeg(position)).hexdigest(),
        arm_a=session.arms[0].to_json(),
        arm_b=session.arms[1].to_json(),
        left_arm=left,
        vote=choice,
        provenance_a={"backend": "openai", "prompt_sha256": "1" * 64},
        provenance_b={"backend": "vertex", "prompt_sha256": "2" * 64},
        answer_a={"raw_answers": ["{}"], "valid": True},
    )


def test_a_session_its_images_and_each_reviewers_progress(new_target: Target) -> None:
    store = FeedbackStore(new_target())
    session = store.create_comparison(
        " Chest pilot ", ARMS, [(jpeg(n), {"source_format": "png"}) for n in range(3)]
    )
    assert session.label == "Chest pilot" and session.items == 3
    [listed] = store.comparisons()
    assert listed == session
    item = store.comparison_item(session.id, 1)
    assert item is not None and item.jpeg == jpeg(1) and item.info == {"source_format": "png"}
    assert item.image_sha256 == hashlib.sha256(jpeg(1)).hexdigest()
    assert store.comparison_item(session.id, 3) is None

    assert store.next_comparison_item(session.id, "Dr A") == 0
    store.save_vote(vote(session, 0, "Dr A", "a"))
    assert store.next_comparison_item(session.id, "Dr A") == 1
    assert store.next_comparison_item(session.id, "Dr A", skip=[1]) == 2
    assert store.next_comparison_item(session.id, "Dr B") == 0  # progress is per reviewer
    store.save_vote(vote(session, 1, "Dr A", "both_bad", left="b"))
    store.save_vote(vote(session, 2, "Dr A", "b"))
    assert store.next_comparison_item(session.id, "Dr A") is None

    votes = list(store.iter_votes())
    assert [v.vote for v in votes] == ["a", "both_bad", "b"]
    assert votes[1].left_arm == "b" and votes[0].provenance_b["backend"] == "vertex"
    assert [v.vote for v in store.iter_votes(session_label="other")] == []
    figures = comparisons(votes)
    assert figures["pairs"][0]["votes"] == 3 and figures["votes"] == 3

    with pytest.raises(ValueError, match="already a comparison session called"):
        store.create_comparison("Chest pilot", ARMS, [(jpeg(9), {})])
    with pytest.raises(ValueError, match="at least one image"):
        store.create_comparison("Empty", ARMS, [])
    with pytest.raises(ValueError, match="two arms with different labels"):
        store.create_comparison("Same", (ARMS[0], ARMS[0]), [(jpeg(9), {})])
    store.close()


def test_votes_are_validated() -> None:
    base = {
        "image_sha256": "0" * 64,
        "arm_a": ARMS[0].to_json(),
        "arm_b": ARMS[1].to_json(),
        "left_arm": "a",
        "vote": "a",
    }
    assert ComparisonVote(**base).winner_label == "Small model"
    with pytest.raises(ValueError, match="vote must be one of"):
        ComparisonVote(**base | {"vote": "left"})
    with pytest.raises(ValueError, match="left_arm"):
        ComparisonVote(**base | {"left_arm": "left"})
    with pytest.raises(ValueError, match="no field file"):
        ComparisonVote(**base | {"arm_a": {"label": "x", "backend": "y", "file": "z"}})
    assert Arm.parse("label=Big,backend=vertex,template=cxr") == Arm("Big", "vertex", "cxr")
    assert Arm.parse("backend=openai").label == "openai · auto"
    with pytest.raises(ValueError, match="key=value pairs"):
        Arm.parse("vertex")
