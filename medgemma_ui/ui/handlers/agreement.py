"""The agreement dashboard's handler: the figures of `feedback.agreement` as the review tab's plots
and sentences (the layout is in components/agreement_panel.py). Call `access.require_admin`
first: the dashboard shows every clinician's ratings."""

from __future__ import annotations

import asyncio
from typing import Any

import gradio as gr
import pandas as pd

from medgemma_ui.feedback.agreement import VERDICTS, dashboard
from medgemma_ui.ui.services import Services

VERDICT_LABELS = {
    "accepted": "Accepted",
    "corrected": "Corrected",
    "rejected": "Rejected",
    "unsure": "Unsure",
}
VERDICT_COLOURS = {
    "Accepted": "#2e7d32",
    "Corrected": "#f9a825",
    "Rejected": "#c62828",
    "Unsure": "#90a4ae",
}
GROUP_LABELS = {"template": "Template", "backend": "Backend", "model": "Model"}
SHARE_COLUMNS = ["Group", "Verdict", "Share", "Findings"]
RATER_COLUMNS = ["Measure", "Value"]
TREND_COLUMNS = ["Day", "Measure", "Value"]
IOU_COLUMNS = ["IoU", "Boxes"]
WIN_COLUMNS = ["Arm A", "Arm B", "Votes", "A better", "B better", "Both good", "Both bad", "A wins"]


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def shares_frame(figures: dict[str, Any], by: str) -> pd.DataFrame:
    from medgemma_ui.ui.handlers.review import template_name

    name = template_name if by == "template" else str
    rows = []
    for key, group in figures["findings"].get(by, {}).items():
        for verdict in VERDICTS:
            if verdict == "unsure" and not group["counts"]["unsure"]:
                continue
            rows.append(
                {
                    "Group": f"{name(key)} · {group['findings']}",
                    "Verdict": VERDICT_LABELS[verdict],
                    "Share": group["shares"][verdict] or 0.0,
                    "Findings": group["counts"][verdict],
                }
            )
    return pd.DataFrame(rows, columns=SHARE_COLUMNS)


def raters_frame(figures: dict[str, Any]) -> pd.DataFrame:
    """Short names under the bars (the summary spells them out): Cohen's kappa for two
    clinicians, Fleiss' kappa, Krippendorff's alpha of the overall rating, of each finding's
    verdict, and of the overall rating per template."""
    ir = figures["inter_rater"]
    rows = []
    if ir["cohen_kappa"]:
        rows.append(("Cohen κ", ir["cohen_kappa"]["kappa"]))
    if ir["fleiss_kappa"] is not None:
        rows.append(("Fleiss κ", ir["fleiss_kappa"]))
    if ir["krippendorff_alpha"] is not None:
        rows.append(("α overall", ir["krippendorff_alpha"]))
    if ir["findings"]["krippendorff_alpha"] is not None:
        rows.append(("α findings", ir["findings"]["krippendorff_alpha"]))
    for template, values in ir["by_template"].items():
        if values["krippendorff_alpha"] is not None:
            rows.append((f"α · {template}", values["krippendorff_alpha"]))
    return pd.DataFrame(rows, columns=RATER_COLUMNS)


def trend_frame(figures: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for day in figures["trend"]:
        if day["agreement"] is not None:
            rows.append({"Day": day["date"], "Measure": "Agreement", "Value": day["agreement"]})
        if day["accepted_share"] is not None:
            rows.append(
                {"Day": day["date"], "Measure": "Findings accepted", "Value": day["accepted_share"]}
            )
    return pd.DataFrame(rows, columns=TREND_COLUMNS)


def iou_frame(figures: dict[str, Any]) -> pd.DataFrame:
    ious = figures["boxes"]["ious"]
    buckets = [f"{k / 10:.1f}–{(k + 1) / 10:.1f}" for k in range(10)]
    counts = [0] * 10
    for value in ious:
        counts[min(int(value * 10), 9)] += 1
    return pd.DataFrame({"IoU": buckets, "Boxes": counts}, columns=IOU_COLUMNS)


def wins_frame(figures: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for pair in figures["comparisons"]["pairs"]:
        low, high = pair["a_win_rate_ci95"]
        rows.append(
            [
                pair["arm_a"],
                pair["arm_b"],
                pair["votes"],
                pair["a_better"],
                pair["b_better"],
                pair["both_good"],
                pair["both_bad"],
                f"{_pct(pair['a_win_rate'])} (95% CI {_pct(low)}–{_pct(high)})",
            ]
        )
    return pd.DataFrame(rows, columns=WIN_COLUMNS)


def _with_intervals(points: list[tuple[str, float, list[float]]], colour: str, name: str) -> Any:
    """A plotly trace of `(label, estimate, (low, high))` points: each estimate a marker on its
    label's row, with its interval as an asymmetric horizontal error bar."""
    import plotly.graph_objects as go

    labels = [label for label, _, _ in points]
    estimates = [estimate for _, estimate, _ in points]
    return go.Scatter(
        x=estimates,
        y=labels,
        error_x={
            "type": "data",
            "symmetric": False,
            "array": [high - estimate for _, estimate, (_, high) in points],
            "arrayminus": [estimate - low for _, estimate, (low, _) in points],
        },
        mode="markers",
        marker={"size": 11, "color": colour},
        name=name,
    )


def wins_figure(figures: dict[str, Any]) -> Any:
    """Win rates per pair (Wilson 95% intervals) and Bradley-Terry strengths per arm (bootstrap
    95% intervals), as a plotly figure with error bars."""
    from plotly.subplots import make_subplots

    comparisons = figures["comparisons"]
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Win rate of A over B (ties count half)", "Bradley–Terry strength"),
        horizontal_spacing=0.18,
    )
    win_rates = [
        (f"{p['arm_a']} vs {p['arm_b']} ({p['votes']})", p["a_win_rate"], p["a_win_rate_ci95"])
        for p in comparisons["pairs"]
    ]
    strengths = [(s["arm"], s["strength"], s["ci95"]) for s in comparisons["bradley_terry"]]
    # Dotted: no better than the other arm (a win rate of one half) or than the average arm (a
    # strength of 0: the strengths are centred on it).
    fig.add_trace(_with_intervals(win_rates, "#1565c0", "win rate"), row=1, col=1)
    fig.add_vline(x=0.5, line_dash="dot", line_color="#888", row=1, col=1)
    fig.add_trace(_with_intervals(strengths, "#6a1b9a", "strength"), row=1, col=2)
    fig.add_vline(x=0.0, line_dash="dot", line_color="#888", row=1, col=2)
    fig.update_xaxes(range=[0, 1], tickformat=".0%", row=1, col=1)
    fig.update_layout(
        height=140 + 60 * max(len(win_rates), len(strengths), 1),
        showlegend=False,
        margin={"l": 10, "r": 10, "t": 40, "b": 30},
    )
    return fig


def summary_text(figures: dict[str, Any], session: str) -> str:
    ir, boxes = figures["inter_rater"], figures["boxes"]
    comparisons = figures["comparisons"]
    scope = f" in session {session!r}" if session else ""
    findings = sum(g["findings"] for g in figures["findings"]["template"].values())
    if not findings and not ir["answers_rated_by_several"] and not comparisons["votes"]:
        return (
            f"Nothing to measure yet{scope}: the dashboard fills in once clinicians review "
            "findings, rate the same answers, or vote in a blinded comparison."
        )
    lines = [f"**{findings} findings reviewed**{scope}."]
    if ir["answers_rated_by_several"]:
        parts = []
        if ir["cohen_kappa"]:
            k = ir["cohen_kappa"]
            parts.append(
                f"Cohen's κ {_num(k['kappa'])} (95% CI {_num(k['ci95'][0])} to "
                f"{_num(k['ci95'][1])})"
            )
        if ir["fleiss_kappa"] is not None:
            parts.append(f"Fleiss' κ {_num(ir['fleiss_kappa'])}")
        if ir["krippendorff_alpha"] is not None:
            parts.append(f"Krippendorff's α {_num(ir['krippendorff_alpha'])}")
        measured = "; ".join(parts) if parts else "every clinician gave the same rating"
        lines.append(
            f"**{ir['answers_rated_by_several']} answers** were rated by several of "
            f"{ir['reviewers']} clinicians: {measured}."
        )
    else:
        lines.append(
            "No answer has been rated by two named clinicians yet, so there is no agreement "
            "between clinicians to measure."
        )
    if comparisons["votes"]:
        lines.append(f"**{comparisons['votes']} blinded comparison votes.**")
    if boxes["corrected_with_iou"]:
        lines.append(
            f"**{boxes['corrected_with_iou']} corrected boxes**: mean IoU with the model's "
            f"{_num(boxes['mean_iou'])}."
        )
    return " ".join(lines)


def _load(services: Services, session: str | None) -> dict[str, Any]:
    store = services.feedback_store
    votes = store.iter_votes(session_label=session) if hasattr(store, "iter_votes") else ()
    return dashboard(store.iter_all(session_label=session), votes)


async def load_agreement(session: str, group_by: str, services: Services) -> dict[str, Any]:
    """`{output name: update}` for the panel. Call `access.require_admin` first."""
    session = (session or "").strip()
    by = group_by if group_by in GROUP_LABELS else "template"
    figures = await asyncio.to_thread(_load, services, session or None)
    shares = shares_frame(figures, by)
    raters = raters_frame(figures)
    trend = trend_frame(figures)
    has_boxes = bool(figures["boxes"]["ious"])
    has_votes = bool(figures["comparisons"]["votes"])
    return {
        "agreement_summary": summary_text(figures, session),
        "finding_shares": gr.update(
            value=shares, visible=not shares.empty, x_title=GROUP_LABELS[by]
        ),
        "rater_agreement": gr.update(value=raters, visible=not raters.empty),
        "agreement_trend": gr.update(value=trend, visible=not trend.empty),
        "box_iou": gr.update(value=iou_frame(figures), visible=has_boxes),
        "win_rates": gr.update(
            value=wins_figure(figures) if has_votes else None, visible=has_votes
        ),
        "win_table": gr.update(value=wins_frame(figures), visible=has_votes),
        "agreement_json": figures,
    }
