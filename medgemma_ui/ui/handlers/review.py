"""Review handlers: counts, agreement plots, recent feedback and exports for session organisers."""

from __future__ import annotations

import asyncio
import hmac
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from medgemma_ui.ui.services import Services

RECENT_COLUMNS = [
    "time (UTC)",
    "session",
    "reviewer",
    "template",
    "backend",
    "model",
    "valid JSON",
    "overall",
    "findings marked",
    "comment",
]
_RATING_LABEL = {"agree": "agree", "partly_agree": "partly agree", "disagree": "disagree"}


def check_admin(password: str | None, services: Services) -> None:
    expected = services.settings.feedback.admin_password
    if expected and not hmac.compare_digest((password or "").encode(), expected.encode()):
        raise gr.Error("That admin password is not right.")


def _agreement_frame(groups: dict[str, dict[str, Any]], label: str) -> pd.DataFrame:
    rows = [
        {label: name, "agreement": round(g["rate"], 3), "rated": g["n"]}
        for name, g in groups.items()
    ]
    return pd.DataFrame(rows, columns=[label, "agreement", "rated"])


def _summary_markdown(stats: dict[str, Any], session: str) -> str:
    scope = f" in session **{session}**" if session else ""
    if not stats["total"]:
        return f"No feedback yet{scope}."
    by = stats["by_overall"]
    agreement = stats["agreement"]
    rate = "n/a" if agreement is None else f"{agreement:.0%}"
    return (
        f"**{stats['total']}** results with feedback{scope}: {by['agree']} agree, "
        f"{by['partly_agree']} partly agree, {by['disagree']} disagree, {by['unrated']} without an "
        f"overall rating. Agreement (agree = 1, partly = 0.5): **{rate}**."
    )


def _recent_frame(records: list[Any]) -> pd.DataFrame:
    rows = [
        [
            r.created_at[:19].replace("T", " "),
            r.session_label,
            r.reviewer,
            r.template_id,
            r.backend,
            r.model,
            "yes" if r.valid else "no",
            _RATING_LABEL.get(r.overall_rating or "", ""),
            len(r.finding_ratings),
            r.comment[:120],
        ]
        for r in records
    ]
    return pd.DataFrame(rows, columns=RECENT_COLUMNS)


async def load_review(password: str, session: str, services: Services) -> tuple:
    check_admin(password, services)
    store = services.feedback_store
    session = (session or "").strip()
    label = session or None
    stats = await asyncio.to_thread(store.stats, session_label=label)
    recent = await asyncio.to_thread(store.recent, 50, session_label=label)
    return (
        _summary_markdown(stats, session),
        _agreement_frame(stats["by_template"], "template"),
        _agreement_frame(stats["by_backend"], "backend"),
        _recent_frame(recent),
    )


def _export_file(services: Services, fmt: str, session: str | None) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = Path(tempfile.mkdtemp(prefix="medgemma-export-"))
    path = folder / f"feedback-{stamp}.{fmt}"
    with path.open("w", encoding="utf-8", newline="") as out:
        services.feedback_store.export(fmt, out, session_label=session)  # type: ignore[arg-type]
    return str(path)


async def export_feedback(password: str, session: str, services: Services) -> list[str]:
    check_admin(password, services)
    label = (session or "").strip() or None
    return [
        await asyncio.to_thread(_export_file, services, "csv", label),
        await asyncio.to_thread(_export_file, services, "jsonl", label),
    ]
