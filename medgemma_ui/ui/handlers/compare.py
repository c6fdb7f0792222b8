"""Blinded comparison: the next image of a comparison session, both arms run on it side by side
(which arm is left is drawn at random and hidden), the clinician's vote, then the reveal.

Each arm goes through the one public pipeline (`AnalysisRequest.build`, `analyze_to_result`)
with the same prepared image, under its backend's concurrency gate. The vote keeps both arms'
provenance and answers. Per-user state (the pending comparison) lives in `gr.State`.
"""

from __future__ import annotations

import asyncio
import html
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from medgemma_ui.analysis import AnalysisRequest, AnalysisResult, analyze_to_result
from medgemma_ui.backends import BackendError
from medgemma_ui.feedback.comparison import (
    Arm,
    ComparisonSession,
    ComparisonVote,
    answer_summary,
)
from medgemma_ui.imaging import ImageError, ImageInfo, PreparedImage
from medgemma_ui.reports import report_markdown
from medgemma_ui.templates import get_template
from medgemma_ui.ui.services import Services

log = logging.getLogger(__name__)

SIDE_VOTES = [
    ("Left is better", "left"),
    ("Right is better", "right"),
    ("Both good", "both_good"),
    ("Both bad", "both_bad"),
]
NO_SESSION = (
    "No comparison session is set up on this server yet. The organiser sets one up in advance "
    "(README, *Comparison sessions*); it then appears in the list above."
)


@dataclass
class Pending:
    """One image on screen with its two answers (per user, in gr.State)."""

    session: ComparisonSession
    position: int
    image_sha256: str
    left: str  # the arm shown on the left: "a" or "b"
    results: dict[str, AnalysisResult] = field(default_factory=dict)
    voted: bool = False
    skipped: list[int] = field(default_factory=list)

    def arm(self, side: str) -> Arm:
        return self.session.arms[0 if side == "a" else 1]

    def side_of(self, screen: str) -> str:
        """ "left"/"right" on screen -> the arm ("a"/"b")."""
        if screen == "left":
            return self.left
        return "b" if self.left == "a" else "a"


class CompareFailure(Exception):
    """One sentence for the clinician."""


def session_choices(services: Services) -> list[tuple[str, str]]:
    return [(f"{c.label} ({c.items} images)", c.id) for c in services.feedback_store.comparisons()]


async def run_arm(arm: Arm, image: PreparedImage, services: Services) -> AnalysisResult:
    """One arm on the prepared image, through the pipeline and the backend's gate."""
    try:
        backend = services.registry.get(arm.backend)
    except BackendError as exc:
        raise CompareFailure(str(exc)) from None
    if not backend.configured:
        raise CompareFailure(
            "One of the two backends of this comparison is not set up on this server; tell the "
            "session organiser."
        )
    request = AnalysisRequest.build(
        [image], services.settings.generation, template=arm.template, prompt=arm.prompt
    )
    try:
        async with services.gate(arm.backend):
            return await analyze_to_result(request, backend)
    except (BackendError, ImageError, ValueError) as exc:
        log.warning("comparison arm failed: %s", type(exc).__name__)
        raise CompareFailure(str(exc)) from None


def answer_markdown(result: AnalysisResult) -> str:
    """The answer as a clinician reads it, with nothing that names the backend or model."""
    if result.parsed is not None:
        text = report_markdown(result.parsed, get_template(result.template_id).schema)
        return text if result.valid else "*Not every field of the template.*\n\n" + text
    raw = html.escape(result.raw.strip()) or "(empty)"
    return f"*The answer could not be read as findings:*\n\n<pre>{raw}</pre>"


def _blank(status: str) -> dict[str, Any]:
    return {
        "compare_status": status,
        "compare_image": None,
        "compare_left": "",
        "compare_right": "",
        "compare_vote": gr.update(value=None, interactive=False),
        "compare_submit": gr.update(interactive=False),
        "compare_reveal": "",
    }


async def next_comparison(
    comparison_id: str | None, reviewer: str, pending: Pending | None, services: Services
) -> AsyncIterator[dict[str, Any]]:
    """The next image this reviewer has not voted on, and both answers, in random order."""
    store = services.feedback_store
    if not comparison_id:
        yield _blank("Choose a comparison session first.") | {"compare_state": None}
        return
    session = await asyncio.to_thread(store.comparison, comparison_id)
    if session is None:
        yield _blank("That comparison session no longer exists.") | {"compare_state": None}
        return
    reviewer = (reviewer or "").strip()
    skipped = list(pending.skipped) if pending and pending.session.id == session.id else []
    if pending and pending.session.id == session.id and not pending.voted:
        skipped.append(pending.position)  # passed over without a vote: comes back later
    position = await asyncio.to_thread(
        store.next_comparison_item, session.id, reviewer, skip=skipped
    )
    if position is None and skipped:
        skipped, position = [], skipped[0]
    if position is None:
        who = f"{reviewer} has" if reviewer else "you have"
        yield _blank(
            f"**Done**: {who} voted on all {session.items} images of *{session.label}*. Thank you."
        ) | {"compare_state": None}
        return
    item = await asyncio.to_thread(store.comparison_item, session.id, position)
    assert item is not None
    image = PreparedImage(item.jpeg, ImageInfo(**item.info))
    shown = await services.shown(image)
    state = Pending(
        session=session,
        position=position,
        image_sha256=item.image_sha256,
        left=("a", "b")[secrets.randbelow(2)],
        skipped=skipped,
    )
    status = f"Image {position + 1} of {session.items} in *{session.label}*"
    yield _blank(f"{status}: both answers are being written…") | {
        "compare_image": shown,
        "compare_state": None,
    }
    outcomes = await asyncio.gather(
        *(run_arm(state.arm(side), image, services) for side in ("a", "b")),
        return_exceptions=True,
    )
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures:
        reason = failures[0]
        if not isinstance(reason, CompareFailure):
            log.error("comparison failed", exc_info=reason)
            reason = CompareFailure("The comparison could not be run; please try again.")
        yield _blank(f"**Not compared.** {reason} Press *Next image* to go on.") | {
            "compare_image": shown,
            "compare_state": state,
        }
        return
    state.results = {"a": outcomes[0], "b": outcomes[1]}  # type: ignore[dict-item]
    left, right = state.results[state.left], state.results[state.side_of("right")]
    yield {
        "compare_status": f"{status}. Which answer is better? The names are shown after you vote.",
        "compare_image": shown,
        "compare_left": answer_markdown(left),
        "compare_right": answer_markdown(right),
        "compare_vote": gr.update(value=None, interactive=True),
        "compare_submit": gr.update(interactive=True),
        "compare_reveal": "",
        "compare_state": state,
    }


def _arm_line(screen: str, side: str, arm: Arm, result: AnalysisResult) -> str:
    from medgemma_ui.ui.handlers.review import template_name

    model = f", model {result.model}" if result.model else ""
    return (
        f"**{screen}: arm {side.upper()} — {arm.label}** ({arm.backend}, "
        f"{template_name(result.template_id)} template{model})"
    )


async def vote(
    pending: Pending | None,
    choice: str | None,
    comment: str,
    reviewer: str,
    services: Services,
) -> tuple[Pending, str]:
    """Store the vote (in arm terms, with both arms' provenance), then reveal the arms."""
    if pending is None or len(pending.results) != 2:
        raise gr.Error("There is nothing to vote on: press Next image first.")
    if pending.voted:
        raise gr.Error("Your vote on this image is already saved; press Next image.")
    choices = {value for _, value in SIDE_VOTES}
    if choice not in choices:
        raise gr.Error("Choose which answer is better (or both good, or both bad) first.")
    arm_vote = {"left": pending.side_of("left"), "right": pending.side_of("right")}.get(
        choice, choice
    )
    a, b = pending.results["a"], pending.results["b"]
    record = ComparisonVote(
        comparison_id=pending.session.id,
        item_position=pending.position,
        session_label=pending.session.label,
        reviewer=(reviewer or "").strip(),
        image_sha256=pending.image_sha256,
        arm_a=pending.arm("a").to_json(),
        arm_b=pending.arm("b").to_json(),
        left_arm=pending.left,
        vote=arm_vote,
        provenance_a=a.provenance.to_json(),
        provenance_b=b.provenance.to_json(),
        answer_a=answer_summary(a.raw_answers, a.parsed, a.valid, a.errors, a.timings_ms),
        answer_b=answer_summary(b.raw_answers, b.parsed, b.valid, b.errors, b.timings_ms),
        comment=(comment or "").strip(),
    )
    try:
        await asyncio.to_thread(services.feedback_store.save_vote, record)
    except Exception:
        log.exception("comparison vote could not be saved")
        raise gr.Error(
            "The vote could not be saved on the server; please try again, and tell the session "
            "organiser if it keeps failing."
        ) from None
    pending.voted = True
    right = pending.side_of("right")
    label = next(text for text, value in SIDE_VOTES if value == choice)
    winner = record.winner_label
    verdict = f"{label} (arm {arm_vote.upper()}, {winner})" if winner else label
    reveal = "\n\n".join(
        [
            f"**Vote saved** (reference `{record.id[:8]}`): {verdict}.",
            _arm_line(
                "Left", pending.left, pending.arm(pending.left), pending.results[pending.left]
            ),
            _arm_line("Right", right, pending.arm(right), pending.results[right]),
            "Press *Next image* to go on.",
        ]
    )
    return pending, reveal
