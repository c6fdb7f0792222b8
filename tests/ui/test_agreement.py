"""The agreement dashboard's handler: plots get data, empty stores get a sentence."""

from __future__ import annotations

import json

from medgemma_ui.ui.handlers import agreement
from medgemma_ui.ui.services import create_services
from tests.feedback.factory import rating
from tests.ui.test_review import make_settings


async def test_an_empty_store_gives_a_sentence_and_no_plot(tmp_path):
    services = create_services(make_settings(tmp_path))
    out = await agreement.load_agreement("", "template", services)
    assert out["agreement_summary"].startswith("Nothing to measure yet")
    for name in ("finding_shares", "rater_agreement", "agreement_trend", "box_iou", "win_rates"):
        assert out[name]["visible"] is False, name


async def test_ratings_by_two_clinicians_fill_the_plots(tmp_path):
    services = create_services(make_settings(tmp_path))
    store = services.feedback_store
    verdicts = {"cardiac_size": "accept", "pulmonary_findings[0]": "reject"}
    for i in range(4):
        store.save(rating(1, i, "Dr A", ("agree", "disagree")[i % 2], finding_ratings=verdicts))
        store.save(rating(2, i, "Dr B", ("agree", "partly_agree")[i % 2], finding_ratings=verdicts))
    out = await agreement.load_agreement("", "backend", services)
    assert "**16 findings reviewed**" in out["agreement_summary"]
    assert (
        "**4 answers** were rated by several of 2 clinicians: Cohen's κ" in out["agreement_summary"]
    )
    shares = out["finding_shares"]["value"]
    assert out["finding_shares"]["visible"] and out["finding_shares"]["x_title"] == "Backend"
    assert set(shares["Group"]) == {"openai · 16"}
    assert dict(zip(shares["Verdict"], shares["Share"], strict=True))["Accepted"] == 0.5
    measures = list(out["rater_agreement"]["value"]["Measure"])
    assert measures[:3] == ["Cohen κ", "Fleiss κ", "α overall"]
    assert out["agreement_trend"]["visible"]
    assert out["win_rates"]["visible"] is False  # no comparison votes yet
    json.dumps(out["agreement_json"])  # the same figures as `feedback stats`


def test_the_win_rate_figure_has_error_bars():
    figures = {
        "comparisons": {
            "votes": 3,
            "pairs": [
                {
                    "arm_a": "A",
                    "arm_b": "B",
                    "votes": 3,
                    "a_better": 2,
                    "b_better": 1,
                    "both_good": 0,
                    "both_bad": 0,
                    "a_win_rate": 0.6667,
                    "a_win_rate_ci95": [0.2, 0.94],
                }
            ],
            "bradley_terry": [
                {"arm": "A", "strength": 0.3, "ci95": [-0.5, 1.0]},
                {"arm": "B", "strength": -0.3, "ci95": [-1.0, 0.5]},
            ],
        }
    }
    fig = agreement.wins_figure(figures)
    win, strength = fig.data
    assert list(win.error_x.array) == [0.94 - 0.6667] and list(strength.y) == ["A", "B"]
    table = agreement.wins_frame(figures)
    assert table.iloc[0]["A wins"] == "67% (95% CI 20%–94%)"
