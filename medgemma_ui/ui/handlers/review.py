"""Review handlers: counts, ratings per template and backend, recent feedback and exports for
session organisers. Pure text and tables here; the layout is in components/review_tab.py."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from medgemma_ui.feedback.export import export_to_file
from medgemma_ui.settings import Settings
from medgemma_ui.ui.services import Services

RECENT_LIMIT = 50
RECENT_COLUMNS = [
    "Rated (UTC)",
    "Session",
    "Reviewer",
    "Template",
    "Backend",
    "Model",
    "Valid answer",
    "Overall rating",
    "Findings rated",
    "Comment",
]
# Wide enough that no header wraps letter by letter; the comment takes what is left.
RECENT_COLUMN_WIDTHS: list[str | int] = [
    "150px",
    "110px",
    "110px",
    "110px",
    "90px",
    "180px",
    "80px",
    "100px",
    "100px",
    "auto",
]
RATING_LABELS = {"agree": "Agree", "partly_agree": "Partly agree", "disagree": "Disagree"}
RATING_COLOURS = {"Agree": "#2e7d32", "Partly agree": "#f9a825", "Disagree": "#c62828"}
CHART_COLUMNS = ["Group", "Overall rating", "Ratings"]
_AGREEMENT_NOTE = "agree counts 1, partly agree 0.5, disagree 0"


def plural(count: int, word: str, words: str | None = None) -> str:
    """`1 rating`, `2 ratings`, `0 ratings`."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


def _md(text: str) -> str:
    """User-typed text (a session label) shown literally inside Markdown."""
    return re.sub(r"([\\`*_{}\[\]<>()#+\-.!|~])", r"\\\1", text)


def template_name(template_id: str) -> str:
    from medgemma_ui.templates import get_template

    try:
        return get_template(template_id).label
    except (KeyError, ValueError):
        return template_id


def destination_sentence(settings: Settings, *, hub_offline: bool | None = None) -> str:
    """Where ratings go, for the page: no server paths and no environment-variable names (those
    are in the log and the README)."""
    if hub_offline is None:
        from huggingface_hub import constants

        hub_offline = bool(constants.is_offline_mode())
    fb = settings.feedback
    here = (
        "Ratings are saved in the shared feedback database (PostgreSQL)"
        if fb.db_url
        else "Ratings are saved in the feedback database on this server"
    )
    if fb.dataset_repo and fb.dataset_token:
        if hub_offline:
            return (
                f"{here}; the server is in offline mode, so nothing is pushed to {fb.dataset_repo}."
            )
        return f"{here} and pushed every 5 minutes to the private Hub dataset {fb.dataset_repo}."
    if fb.dataset_repo:
        return (
            f"{here}; the Hub dataset {fb.dataset_repo} has no token, so nothing is pushed to it "
            "(the README's *Feedback sessions* section says how to give it one)."
        )
    if settings.server.on_spaces:
        return (
            f"{here}. This Space's disk is wiped on restart: export the ratings below before it "
            "restarts, or have a Hub dataset set up (README, *Feedback sessions*)."
        )
    return f"{here}."


@dataclass(frozen=True)
class Review:
    """What the review tab shows, computed once from the records."""

    summary: str
    charts_visible: bool
    by_template: pd.DataFrame
    by_backend: pd.DataFrame
    recent: pd.DataFrame
    recent_label: str
    total: int


def _counts_frame(counts: Mapping[str, Counter[str]], name: Any) -> pd.DataFrame:
    """One row per (group, rating) with a count, groups labelled `Name · 62%`."""
    rows = []
    for key in sorted(counts, key=lambda k: name(k).lower()):
        by_rating = counts[key]
        n = sum(by_rating.values())
        rate = (by_rating["agree"] + 0.5 * by_rating["partly_agree"]) / n
        group = f"{name(key)} · {rate:.0%}"
        # Zero rows too, so every rating keeps its colour in the legend.
        for rating, label in RATING_LABELS.items():
            rows.append({"Group": group, "Overall rating": label, "Ratings": by_rating[rating]})
    return pd.DataFrame(rows, columns=CHART_COLUMNS)


def _summary(records: list[Any], session: str) -> str:
    scope = f" in session **{_md(session)}**" if session else ""
    total = len(records)
    if not total:
        return (
            f"No ratings yet{scope}. Counts, charts and the latest ratings appear here once "
            "clinicians rate results in the Analyze tab."
        )
    by = Counter(r.overall_rating for r in records)
    rated = total - by[None]
    parts = [f"{by[key]} {label.lower()}" for key, label in RATING_LABELS.items() if by[key]]
    if by[None]:
        parts.append(f"{by[None]} without an overall rating")
    head = f"**{plural(total, 'rating')}**{scope}: {', '.join(parts)}."
    if not rated:
        return f"{head} None has an overall rating yet, so there is no agreement to chart."
    agreement = (by["agree"] + 0.5 * by["partly_agree"]) / rated
    over = "the rated result" if rated == 1 else f"the {rated} rated results"
    return f"{head} Agreement: **{agreement:.0%}** over {over} ({_AGREEMENT_NOTE})."


def _recent_frame(records: Iterable[Any]) -> pd.DataFrame:
    rows = [
        [
            (r.updated_at or r.created_at)[:19].replace("T", " "),
            r.session_label,
            r.reviewer,
            template_name(r.template_id),
            r.backend,
            r.model,
            "yes" if r.valid else "no",
            RATING_LABELS.get(r.overall_rating or "", "—"),
            len(r.finding_ratings),
            r.comment[:120],
        ]
        for r in records
    ]
    return pd.DataFrame(rows, columns=RECENT_COLUMNS)


def build_review(records: list[Any], session: str) -> Review:
    """`records`: every record in scope, any order (newest changes first for the table)."""
    by_template: dict[str, Counter[str]] = {}
    by_backend: dict[str, Counter[str]] = {}
    for r in records:
        if r.overall_rating in RATING_LABELS:
            by_template.setdefault(r.template_id, Counter())[r.overall_rating] += 1
            by_backend.setdefault(r.backend, Counter())[r.overall_rating] += 1
    newest = sorted(records, key=lambda r: r.updated_at or r.created_at, reverse=True)
    shown = newest[:RECENT_LIMIT]
    if len(records) > RECENT_LIMIT:
        label = f"Latest {len(shown)} of {plural(len(records), 'rating')}"
    elif len(records) == 1:
        label = "The only rating"
    else:
        label = f"All {len(records)} ratings, latest first"
    return Review(
        summary=_summary(records, session),
        charts_visible=bool(by_template),
        by_template=_counts_frame(by_template, template_name),
        by_backend=_counts_frame(by_backend, str),
        recent=_recent_frame(shown),
        recent_label=label,
        total=len(records),
    )


def _all_records(services: Services, session: str | None) -> list[Any]:
    return list(services.feedback_store.iter_all(session_label=session))


async def load_review(session: str, services: Services) -> tuple:
    """Call `access.require_admin` first (the review tab's event does)."""
    session = (session or "").strip()
    records = await asyncio.to_thread(_all_records, services, session or None)
    review = build_review(records, session)
    return (
        review.summary,
        gr.update(value=review.by_template, visible=review.charts_visible),
        gr.update(value=review.by_backend, visible=review.charts_visible),
        gr.update(value=review.recent, visible=bool(review.total), label=review.recent_label),
    )


# Exports older than this are deleted from the data folder (Gradio's copy, which the admin
# downloads, is purged with the uploads on the same schedule).
EXPORT_MAX_AGE_S = 3600.0


def purge_exports(folder: Path, max_age_s: float = EXPORT_MAX_AGE_S) -> None:
    """Delete exports older than `max_age_s` (left by an earlier run, or not yet purged)."""
    cutoff = time.time() - max_age_s
    for path in folder.glob("feedback-*") if folder.is_dir() else ():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            continue


def _export_file(
    services: Services, fmt: str, session: str | None, *, votes: bool = False
) -> tuple[str, int]:
    """The export under the app's data folder (`exports/` beside the database: the folder 0700,
    the file 0600 under a name nobody can guess), handed to Gradio's purge of the uploads."""
    purge_exports(services.exports_dir)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    kind = "feedback-votes" if votes else "feedback"  # both purged by purge_exports
    path = services.exports_dir / f"{kind}-{stamp}-{secrets.token_hex(8)}.{fmt}"
    count = export_to_file(
        services.feedback_store,
        fmt,  # type: ignore[arg-type]
        path,
        session_label=session,
        votes=votes,
    )
    services.exports.add(str(path))
    return str(path), count


async def export_feedback(session: str, services: Services) -> tuple[list[str], str]:
    """The ratings, and the blinded comparisons' votes if any, as CSV and JSON Lines files
    offered as downloads (none when there is nothing to export), and one sentence about them;
    never their server path. Call `access.require_admin` first."""
    label = (session or "").strip() or None
    scope = f" in session **{_md(label)}**" if label else ""
    store = services.feedback_store
    ratings = await asyncio.to_thread(store.count, session_label=label)
    votes = await asyncio.to_thread(store.count, session_label=label, votes=True)
    if not ratings and not votes:
        return [], f"No ratings to export yet{scope}."
    paths: list[str] = []
    exported: list[str] = []
    for what, count in (("rating", ratings), ("comparison vote", votes)):
        if count:
            for fmt in ("csv", "jsonl"):
                path, written = await asyncio.to_thread(
                    _export_file, services, fmt, label, votes=what != "rating"
                )
                paths.append(path)
            exported.append(plural(written, what))
    return paths, (
        f"Exported {' and '.join(exported)}{scope} as CSV and JSON Lines: download them below."
    )
