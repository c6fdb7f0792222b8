"""Agreement figures for a feedback session: what the review tab's dashboard plots and
`feedback stats` prints, from the stored ratings (and the blinded comparison votes).

- **Findings**: per template, backend and model, the share of findings clinicians accepted,
  corrected (modify) or rejected (records from before accept/reject/modify count `correct` as
  accepted and `incorrect` as rejected).
- **Inter-rater agreement** where several clinicians rated the same answer (same image, template,
  backend, model and answer text; a clinician is their `reviewer` name, so unnamed ratings are
  left out): Cohen's kappa (statsmodels) when exactly two clinicians rated, Fleiss' kappa
  (statsmodels) over the answers rated by the most common number of clinicians, and
  Krippendorff's alpha (the `krippendorff` package; ordinal for the overall rating, nominal for
  the per-finding verdicts), which takes any number of raters and missing ratings.
- **Comparisons**: per pair of arms, votes and win rates with Wilson 95% intervals (a tie, both
  good or both bad, counts half to each); over all arms, Bradley-Terry strengths (`choix`,
  regularised ILSR) with 95% bootstrap intervals.
- **Boxes** (localisation templates): the model's boxes accepted, corrected or rejected, and the
  IoU of each corrected box with the model's, read from `finding_corrections["boxes[i]"]` (JSON:
  `label`, `model_xyxy`, `corrected_xyxy`, `iou`) with `finding_ratings["boxes[i]"]`.
- **Trend**: per day, ratings, agreement (agree 1, partly 0.5, disagree 0) and accepted share.

Every figure is None where there is not enough data for it, never a made-up number.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from medgemma_ui.feedback.comparison import ComparisonVote
from medgemma_ui.feedback.record import AGREEMENT_SCORE, FeedbackRecord

VERDICTS = ("accepted", "corrected", "rejected", "unsure")
VERDICT_OF = {
    "accept": "accepted",
    "correct": "accepted",
    "modify": "corrected",
    "reject": "rejected",
    "incorrect": "rejected",
    "unsure": "unsure",
}
OVERALL_CODE = {"disagree": 0, "partly_agree": 1, "agree": 2}
VOTES = ("a", "b", "both_good", "both_bad")
BOOTSTRAP_ROUNDS = 200
GROUPINGS = ("template", "backend", "model")


def _round(value: float | None, digits: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def _is_box(path: str) -> bool:
    return path.startswith("boxes[")


# -- findings -----------------------------------------------------------------------------------


def _group_key(record: FeedbackRecord, by: str) -> str:
    if by == "template":
        return record.template_id
    if by == "backend":
        return record.backend
    return record.model or "(model not reported)"


def finding_shares(records: Iterable[FeedbackRecord]) -> dict[str, dict[str, Any]]:
    """`{"template": {id: {"findings", "counts": {verdict: n}, "shares": {verdict: share}}},
    "backend": {...}, "model": {...}}` over every reviewed finding (boxes excluded)."""
    counts: dict[str, dict[str, Counter[str]]] = {by: defaultdict(Counter) for by in GROUPINGS}
    for record in records:
        for path, rating in record.finding_ratings.items():
            verdict = VERDICT_OF.get(rating)
            if verdict is None or _is_box(path):
                continue
            for by in GROUPINGS:
                counts[by][_group_key(record, by)][verdict] += 1
    out: dict[str, dict[str, Any]] = {}
    for by, groups in counts.items():
        out[by] = {}
        for key in sorted(groups):
            n = sum(groups[key].values())
            out[by][key] = {
                "findings": n,
                "counts": {v: groups[key][v] for v in VERDICTS},
                "shares": {v: _round(groups[key][v] / n) for v in VERDICTS},
            }
    return out


# -- inter-rater agreement ----------------------------------------------------------------------


def answer_key(record: FeedbackRecord) -> str:
    """What was rated: the same answer (text) to the same image by the same template, backend
    and model."""
    final = record.raw_answers[-1] if record.raw_answers else json.dumps(record.parsed)
    text = "\x1f".join(
        (record.image_sha256, record.template_id, record.backend, record.model, final)
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _latest_per_reviewer(records: Iterable[FeedbackRecord]) -> dict[str, dict[str, FeedbackRecord]]:
    """{answer key: {reviewer: their latest record}} for named reviewers only."""
    units: dict[str, dict[str, FeedbackRecord]] = defaultdict(dict)
    for record in records:
        reviewer = record.reviewer.strip()
        if not reviewer:
            continue
        key = answer_key(record)
        previous = units[key].get(reviewer)
        if previous is None or record.updated_at > previous.updated_at:
            units[key][reviewer] = record
    return units


def _alpha(matrix: list[list[float]], level: Literal["nominal", "ordinal"]) -> float | None:
    import numpy as np

    data = np.array(matrix, dtype=float)
    values = data[~np.isnan(data)]
    if data.shape[0] < 2 or data.shape[1] < 1 or len(np.unique(values)) < 2:
        return None  # alpha is undefined when every rating is the same value
    import krippendorff

    try:
        return _round(krippendorff.alpha(reliability_data=data, level_of_measurement=level))
    except (ValueError, ZeroDivisionError):
        return None


def _cohen(pairs: Sequence[tuple[int, int]], categories: int) -> dict[str, Any] | None:
    """Cohen's kappa of two raters' codes, with its asymptotic 95% interval (statsmodels)."""
    if len(pairs) < 2:
        return None
    import numpy as np
    from statsmodels.stats.inter_rater import cohens_kappa

    table = np.zeros((categories, categories))
    for a, b in pairs:
        table[a, b] += 1
    observed = table.trace() / table.sum()
    expected = float((table.sum(0) * table.sum(1)).sum() / table.sum() ** 2)
    if expected >= 1.0:  # both raters used one category only: kappa is undefined
        return None
    with np.errstate(all="ignore"):  # a degenerate table gives NaN variances: reported as None
        result = cohens_kappa(table)
        linear = cohens_kappa(table, wt="linear")
    return {
        "kappa": _round(result.kappa),
        "ci95": [_round(result.kappa_low), _round(result.kappa_upp)],
        "kappa_linear": _round(linear.kappa),
        "observed_agreement": _round(observed),
        "items": len(pairs),
    }


def _fleiss(rows: list[list[int]]) -> float | None:
    import numpy as np
    from statsmodels.stats.inter_rater import fleiss_kappa

    table = np.array(rows, dtype=float)
    if len(rows) < 2 or (table.sum(0) > 0).sum() < 2:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return _round(fleiss_kappa(table, method="fleiss"))


def inter_rater(records: Iterable[FeedbackRecord]) -> dict[str, Any]:
    """Agreement between clinicians who rated the same answers (see the module's docstring)."""
    units = {k: v for k, v in _latest_per_reviewer(records).items() if len(v) >= 2}
    reviewers = sorted({r for unit in units.values() for r in unit})
    overall_units = {
        key: {r: OVERALL_CODE[rec.overall_rating] for r, rec in unit.items() if rec.overall_rating}
        for key, unit in units.items()
    }
    overall_units = {k: v for k, v in overall_units.items() if len(v) >= 2}
    out: dict[str, Any] = {
        "answers_rated_by_several": len(overall_units),
        "reviewers": len({r for unit in overall_units.values() for r in unit}),
        "cohen_kappa": None,
        "fleiss_kappa": None,
        "fleiss_raters": None,
        "krippendorff_alpha": None,
        "findings": {"units": 0, "krippendorff_alpha": None},
        "pairs": [],
        "by_template": {},
    }
    if overall_units:
        keys = sorted(overall_units)
        matrix = [
            [overall_units[k].get(r, math.nan) for k in keys]
            for r in reviewers
            if any(r in overall_units[k] for k in keys)
        ]
        out["krippendorff_alpha"] = _alpha(matrix, "ordinal")
        raters_per_unit = Counter(len(v) for v in overall_units.values())
        m = max(raters_per_unit, key=lambda n: (raters_per_unit[n], n))
        rows = [
            [Counter(v.values())[c] for c in range(3)]
            for v in overall_units.values()
            if len(v) == m
        ]
        out["fleiss_kappa"], out["fleiss_raters"] = _fleiss(rows), m
        if out["reviewers"] == 2:
            a, b = sorted({r for unit in overall_units.values() for r in unit})
            out["cohen_kappa"] = _cohen([(v[a], v[b]) for v in overall_units.values()], 3)
        # Cohen's kappa for every pair of clinicians with answers in common (the heatmap).
        for i, a in enumerate(reviewers):
            for b in reviewers[i + 1 :]:
                both = [(v[a], v[b]) for v in overall_units.values() if a in v and b in v]
                pair = _cohen(both, 3)
                if both:
                    out["pairs"].append(
                        {
                            "a": a,
                            "b": b,
                            "answers": len(both),
                            "kappa": pair["kappa"] if pair else None,
                            "agreement": _round(sum(x == y for x, y in both) / len(both)),
                        }
                    )
        by_template: dict[str, list[str]] = defaultdict(list)
        for key, unit in units.items():
            if key in overall_units:
                by_template[next(iter(unit.values())).template_id].append(key)
        for template, template_keys in sorted(by_template.items()):
            matrix = [[overall_units[k].get(r, math.nan) for k in template_keys] for r in reviewers]
            out["by_template"][template] = {
                "answers": len(template_keys),
                "krippendorff_alpha": _alpha(matrix, "ordinal"),
            }
    # The per-finding verdicts on the same answers (nominal).
    codes = {"accepted": 0, "corrected": 1, "rejected": 2}
    finding_units: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for key, unit in units.items():
        for reviewer, record in unit.items():
            for path, rating in record.finding_ratings.items():
                verdict = VERDICT_OF.get(rating)
                if verdict in codes:
                    finding_units[key, path][reviewer] = codes[verdict]
    finding_units = {k: v for k, v in finding_units.items() if len(v) >= 2}
    if finding_units:
        keys2 = sorted(finding_units)
        matrix = [[finding_units[k].get(r, math.nan) for k in keys2] for r in reviewers]
        out["findings"] = {
            "units": len(keys2),
            "krippendorff_alpha": _alpha(matrix, "nominal"),
        }
    return out


# -- boxes --------------------------------------------------------------------------------------


def boxes(records: Iterable[FeedbackRecord]) -> dict[str, Any]:
    """The localisation boxes clinicians reviewed, and the IoU of each corrected one."""
    verdicts: Counter[str] = Counter()
    ious: list[float] = []
    by_template: dict[str, list[float]] = defaultdict(list)
    for record in records:
        for path, rating in record.finding_ratings.items():
            if not _is_box(path):
                continue
            verdict = VERDICT_OF.get(rating)
            if verdict is not None:
                verdicts[verdict] += 1
            text = record.finding_corrections.get(path)
            if not text:
                continue
            try:
                value = float(json.loads(text)["iou"])
            except (ValueError, KeyError, TypeError):
                continue
            if math.isfinite(value):
                ious.append(value)
                by_template[record.template_id].append(value)
    ious.sort()
    return {
        "reviewed": sum(verdicts.values()),
        "counts": {v: verdicts[v] for v in VERDICTS},
        "corrected_with_iou": len(ious),
        "mean_iou": _round(sum(ious) / len(ious)) if ious else None,
        "median_iou": _round(ious[len(ious) // 2]) if ious else None,
        "ious": [_round(v) for v in ious],
        "by_template": {
            t: {"corrected": len(v), "mean_iou": _round(sum(v) / len(v))}
            for t, v in sorted(by_template.items())
        },
    }


# -- trend --------------------------------------------------------------------------------------


def trend(records: Iterable[FeedbackRecord]) -> list[dict[str, Any]]:
    """Per day (UTC, by when the rating was first saved): ratings, agreement, accepted share."""
    days: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"ratings": 0, "scores": [], "verdicts": Counter()}
    )
    for record in records:
        day = days[record.created_at[:10]]
        day["ratings"] += 1
        if record.overall_rating:
            day["scores"].append(AGREEMENT_SCORE[record.overall_rating])
        for path, rating in record.finding_ratings.items():
            if not _is_box(path) and rating in VERDICT_OF:
                day["verdicts"][VERDICT_OF[rating]] += 1
    out = []
    for date in sorted(days):
        day = days[date]
        findings = sum(day["verdicts"].values())
        out.append(
            {
                "date": date,
                "ratings": day["ratings"],
                "agreement": _round(sum(day["scores"]) / len(day["scores"]))
                if day["scores"]
                else None,
                "accepted_share": _round(day["verdicts"]["accepted"] / findings)
                if findings
                else None,
            }
        )
    return out


# -- comparisons --------------------------------------------------------------------------------


def _wilson(successes: float, n: int) -> list[float | None]:
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    return [_round(low), _round(high)]


def _bradley_terry(
    arms: list[str], games: list[tuple[int, int, str]], *, seed: int = 0
) -> list[dict[str, Any]]:
    """Strengths (log scale, centred on 0) with 95% percentile-bootstrap intervals. A decisive
    vote is a win counted twice, a tie one win each way: ties weigh half."""
    import choix
    import numpy as np

    def fit(sample: Sequence[tuple[int, int, str]]) -> Any:
        data: list[tuple[int, int]] = []
        for a, b, vote in sample:
            if vote == "a":
                data += [(a, b), (a, b)]
            elif vote == "b":
                data += [(b, a), (b, a)]
            else:
                data += [(a, b), (b, a)]
        params = choix.ilsr_pairwise(len(arms), data, alpha=0.01)
        return params - params.mean()

    point = fit(games)
    rng = np.random.default_rng(seed)
    draws = np.array(
        [
            fit([games[i] for i in rng.integers(0, len(games), len(games))])
            for _ in range(BOOTSTRAP_ROUNDS)
        ]
    )
    low, high = np.percentile(draws, [2.5, 97.5], axis=0)
    return [
        {
            "arm": arm,
            "strength": _round(point[i]),
            "ci95": [_round(low[i]), _round(high[i])],
        }
        for i, arm in enumerate(arms)
    ]


def comparisons(votes: Iterable[dict[str, Any] | ComparisonVote]) -> dict[str, Any]:
    """Win rates per pair of arms and Bradley-Terry strengths over all arms.

    A vote is `{"arm_a": label, "arm_b": label, "vote": "a" | "b" | "both_good" | "both_bad"}`
    (the arms as the comparison session named them, whatever side they were shown on)."""
    pairs: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    games: list[tuple[str, str, str]] = []
    for vote in votes:
        if isinstance(vote, ComparisonVote):
            vote = {"arm_a": vote.arm_a["label"], "arm_b": vote.arm_b["label"], "vote": vote.vote}
        a, b, choice = vote["arm_a"], vote["arm_b"], vote["vote"]
        if choice not in VOTES or a == b:
            continue
        if b < a:  # one direction per pair
            a, b = b, a
            choice = {"a": "b", "b": "a"}.get(choice, choice)
        pairs[a, b][choice] += 1
        games.append((a, b, choice))
    rows = []
    for (a, b), counts in sorted(pairs.items()):
        n = sum(counts.values())
        ties = counts["both_good"] + counts["both_bad"]
        wins_a = counts["a"] + 0.5 * ties
        rows.append(
            {
                "arm_a": a,
                "arm_b": b,
                "votes": n,
                "a_better": counts["a"],
                "b_better": counts["b"],
                "both_good": counts["both_good"],
                "both_bad": counts["both_bad"],
                "a_win_rate": _round(wins_a / n),
                "a_win_rate_ci95": _wilson(wins_a, n),
            }
        )
    arms = sorted({x for a, b, _ in games for x in (a, b)})
    strengths: list[dict[str, Any]] = []
    if len(arms) >= 2 and games:
        index = {arm: i for i, arm in enumerate(arms)}
        strengths = _bradley_terry(arms, [(index[a], index[b], v) for a, b, v in games])
    return {"votes": len(games), "pairs": rows, "bradley_terry": strengths}


# -- everything ---------------------------------------------------------------------------------


def dashboard(
    records: Iterable[FeedbackRecord], votes: Iterable[dict[str, Any] | ComparisonVote] = ()
) -> dict[str, Any]:
    """Every figure above, JSON-ready: `findings`, `inter_rater`, `comparisons`, `boxes`,
    `trend`."""
    records = list(records)
    return {
        "findings": finding_shares(records),
        "inter_rater": inter_rater(records),
        "comparisons": comparisons(votes),
        "boxes": boxes(records),
        "trend": trend(records),
    }
