"""The agreement dashboard's figures, against values worked out by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from medgemma_ui.__main__ import main
from medgemma_ui.feedback import FeedbackStore
from medgemma_ui.feedback.agreement import (
    boxes,
    comparisons,
    dashboard,
    finding_shares,
    inter_rater,
    trend,
)
from tests.feedback.factory import make_record, rating

Z = 1.959963984540054


def test_finding_shares_per_template_backend_and_model() -> None:
    records = [
        make_record(
            0,
            0,
            template_id="cxr",
            backend="openai",
            finding_ratings={"a": "accept", "b": "modify", "c": "reject", "d": "accept"},
            finding_corrections={"b": "fixed"},
        ),
        make_record(1, 1, template_id="ct", backend="vertex", finding_ratings={"x": "correct"}),
        make_record(2, 2, template_id="cxr", backend="vertex", finding_ratings={"y": "incorrect"}),
    ]
    shares = finding_shares(records)
    cxr = shares["template"]["cxr"]
    assert cxr["findings"] == 5
    assert cxr["counts"] == {"accepted": 2, "corrected": 1, "rejected": 2, "unsure": 0}
    assert cxr["shares"]["accepted"] == 0.4 and cxr["shares"]["rejected"] == 0.4
    assert shares["template"]["ct"]["shares"]["accepted"] == 1.0  # "correct" of older records
    assert shares["backend"]["vertex"]["findings"] == 2
    assert set(shares["model"]) == {"google/medgemma-4b-it"}


def test_cohens_kappa_for_two_clinicians_matches_the_hand_computation() -> None:
    # Agreement table (rows: Dr A, columns: Dr B; agree, partly, disagree):
    # [[4, 1, 0], [1, 2, 0], [0, 0, 2]]: po = 0.8, pe = (5*5 + 3*3 + 2*2) / 100 = 0.38,
    # kappa = (0.8 - 0.38) / (1 - 0.38).
    pairs = [("agree", "agree")] * 4 + [("agree", "partly_agree"), ("partly_agree", "agree")]
    pairs += [("partly_agree", "partly_agree")] * 2 + [("disagree", "disagree")] * 2
    records = []
    for i, (a, b) in enumerate(pairs):
        records += [rating(1, i, "Dr A", a), rating(2, i, "Dr B", b)]
    records.append(rating(3, 99, "Dr A", "agree"))  # rated by one clinician only: not a unit
    records.append(rating(4, 0, "", "disagree"))  # no name: cannot be told apart, left out
    figures = inter_rater(records)
    assert figures["answers_rated_by_several"] == 10 and figures["reviewers"] == 2
    kappa = figures["cohen_kappa"]
    assert kappa["kappa"] == pytest.approx((0.8 - 0.38) / 0.62, abs=1e-4)
    assert kappa["observed_agreement"] == 0.8 and kappa["items"] == 10
    low, high = kappa["ci95"]
    assert low < kappa["kappa"] < high
    assert figures["pairs"] == [
        {"a": "Dr A", "b": "Dr B", "answers": 10, "kappa": kappa["kappa"], "agreement": 0.8}
    ]
    assert figures["fleiss_raters"] == 2 and figures["fleiss_kappa"] is not None
    assert -1 <= figures["krippendorff_alpha"] <= 1


def test_three_clinicians_in_full_agreement_give_one_and_systematic_disagreement_below_zero():
    same = []
    for i, value in enumerate(["agree", "disagree", "partly_agree", "agree"]):
        same += [rating(w, i, f"Dr {w}", value) for w in range(3)]
    figures = inter_rater(same)
    assert figures["reviewers"] == 3 and figures["cohen_kappa"] is None  # Cohen's is for two
    assert figures["fleiss_kappa"] == 1.0 and figures["fleiss_raters"] == 3
    assert figures["krippendorff_alpha"] == 1.0
    assert figures["by_template"]["cxr"]["krippendorff_alpha"] == 1.0
    opposed = []
    for i in range(4):
        opposed += [
            rating(0, i, "Dr 0", "agree"),
            rating(1, i, "Dr 1", "disagree"),
            rating(2, i, "Dr 2", ("agree", "disagree")[i % 2]),
        ]
    assert inter_rater(opposed)["krippendorff_alpha"] < 0


def test_per_finding_verdicts_on_the_same_answer() -> None:
    a = rating(1, 0, "Dr A", "agree", finding_ratings={"x": "accept", "y": "reject"})
    b = rating(2, 0, "Dr B", "agree", finding_ratings={"x": "accept", "y": "reject", "z": "accept"})
    c = rating(
        1, 1, "Dr A", "agree", finding_ratings={"x": "modify"}, finding_corrections={"x": "t"}
    )
    d = rating(
        2, 1, "Dr B", "agree", finding_ratings={"x": "modify"}, finding_corrections={"x": "u"}
    )
    findings = inter_rater([a, b, c, d])["findings"]
    assert findings == {"units": 3, "krippendorff_alpha": 1.0}  # z was rated by one only


def test_no_shared_answers_means_no_figures_rather_than_zeros() -> None:
    figures = inter_rater([rating(1, 0, "Dr A", "agree"), rating(2, 1, "Dr B", "agree")])
    assert figures["answers_rated_by_several"] == 0
    assert figures["cohen_kappa"] is None and figures["krippendorff_alpha"] is None
    # everyone gave the same rating: kappa and alpha are undefined, not 0 or 1
    unanimous = [rating(w, i, f"Dr {w}", "agree") for w in range(2) for i in range(3)]
    figures = inter_rater(unanimous)
    assert figures["cohen_kappa"] is None and figures["krippendorff_alpha"] is None
    assert figures["pairs"][0]["agreement"] == 1.0


def wilson(k: float, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2)) / (1 + Z**2 / n)
    return centre - half, centre + half


def test_win_rates_with_wilson_intervals_and_bradley_terry() -> None:
    votes = [{"arm_a": "openai", "arm_b": "vertex", "vote": "a"}] * 6
    votes += [{"arm_a": "vertex", "arm_b": "openai", "vote": "a"}]  # vertex better, other order
    votes += [{"arm_a": "openai", "arm_b": "vertex", "vote": "both_good"}] * 2
    votes += [{"arm_a": "openai", "arm_b": "vertex", "vote": "both_bad"}]
    figures = comparisons(votes)
    (pair,) = figures["pairs"]
    assert (pair["arm_a"], pair["arm_b"], pair["votes"]) == ("openai", "vertex", 10)
    assert (pair["a_better"], pair["b_better"], pair["both_good"], pair["both_bad"]) == (6, 1, 2, 1)
    assert pair["a_win_rate"] == 0.75  # (6 + 3 ties / 2) / 10
    assert pair["a_win_rate_ci95"] == pytest.approx(list(wilson(7.5, 10)), abs=1e-4)
    strengths = {s["arm"]: s for s in figures["bradley_terry"]}
    assert strengths["openai"]["strength"] > 0 > strengths["vertex"]["strength"]
    for s in strengths.values():
        low, high = s["ci95"]
        assert low <= s["strength"] <= high
    assert comparisons([]) == {"votes": 0, "pairs": [], "bradley_terry": []}


def test_box_iou_from_the_corrections_the_localisation_rating_stores() -> None:
    def box(iou: float) -> str:
        return json.dumps(
            {
                "label": "nodule",
                "model_xyxy": [0, 0, 10, 10],
                "corrected_xyxy": [1, 1, 11, 11],
                "iou": iou,
            }
        )

    records = [
        make_record(
            0,
            0,
            template_id="cxr-localize",
            finding_ratings={"boxes[0]": "modify"},
            finding_corrections={"boxes[0]": box(0.5)},
        ),
        make_record(
            0,
            1,
            template_id="cxr-localize",
            finding_ratings={"boxes[0]": "modify"},
            finding_corrections={"boxes[0]": box(0.7)},
        ),
        make_record(
            0,
            2,
            template_id="cxr-localize",
            finding_ratings={"boxes[0]": "accept", "impression": "accept"},
        ),
    ]
    figures = boxes(records)
    assert figures["reviewed"] == 3 and figures["counts"]["corrected"] == 2
    assert figures["mean_iou"] == 0.6 and figures["ious"] == [0.5, 0.7]
    assert figures["by_template"] == {"cxr-localize": {"corrected": 2, "mean_iou": 0.6}}
    # boxes are not counted among the findings' shares
    assert finding_shares(records)["template"]["cxr-localize"]["findings"] == 1


def test_trend_per_day() -> None:
    records = [
        make_record(
            0,
            0,
            created_at="2025-03-01T09:00:00+00:00",
            overall_rating="agree",
            finding_ratings={"a": "accept"},
        ),
        make_record(
            0,
            1,
            created_at="2025-03-01T17:00:00+00:00",
            overall_rating="disagree",
            finding_ratings={"a": "reject"},
        ),
        make_record(
            0, 2, created_at="2025-03-02T09:00:00+00:00", overall_rating=None, finding_ratings={}
        ),
    ]
    assert trend(records) == [
        {"date": "2025-03-01", "ratings": 2, "agreement": 0.5, "accepted_share": 0.5},
        {"date": "2025-03-02", "ratings": 1, "agreement": None, "accepted_share": None},
    ]


def test_feedback_stats_prints_the_dashboard_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "f.db"
    with FeedbackStore(db) as store:
        store.import_records([rating(1, i, "Dr A", "agree") for i in range(3)])
        store.import_records([rating(2, i, "Dr B", ("agree", "disagree")[i % 2]) for i in range(3)])
        expected = dashboard(store.iter_all())
    assert main(["feedback", "stats", "--db", str(db)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["total"] == 6 and printed["by_overall"]["agree"] == 5  # the counts stay
    for key in ("findings", "inter_rater", "comparisons", "boxes", "trend"):
        assert printed[key] == json.loads(json.dumps(expected[key]))
    assert printed["inter_rater"]["answers_rated_by_several"] == 3
