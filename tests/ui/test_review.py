"""The review tab: a sentence instead of empty charts, plurals, readable headers, no paths."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from medgemma_ui.settings import Settings
from medgemma_ui.ui.handlers import review
from medgemma_ui.ui.services import create_services
from tests.feedback.factory import make_record


def make_settings(tmp_path: Path, **feedback_changes: object) -> Settings:
    base = Settings.from_env({})
    feedback = replace(base.feedback, db_path=tmp_path / "db" / "f.sqlite3", **feedback_changes)
    server = replace(base.server, prepare_workers=0)
    return base.with_changes(feedback=feedback, server=server)


def records(*ratings: str | None, template: str = "cxr", backend: str = "openai") -> list:
    return [
        make_record(0, i, overall_rating=r, template_id=template, backend=backend)
        for i, r in enumerate(ratings)
    ]


# -- pure text and tables -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "text"), [(0, "0 ratings"), (1, "1 rating"), (2, "2 ratings"), (11, "11 ratings")]
)
def test_plural(count, text):
    assert review.plural(count, "rating") == text


def test_no_data_is_a_sentence_and_no_chart_or_table():
    shown = review.build_review([], "")
    assert shown.summary.startswith("No ratings yet.")
    assert "Analyze tab" in shown.summary
    assert not shown.charts_visible
    assert shown.by_template.empty and shown.recent.empty and shown.total == 0


def test_no_data_in_a_session_names_the_session_literally():
    assert review.build_review([], "ward_*2*").summary.startswith(
        r"No ratings yet in session **ward\_\*2\***."
    )


def test_one_rating_is_singular():
    summary = review.build_review(records("agree"), "").summary
    assert summary.startswith("**1 rating**: 1 agree.")
    assert "1 ratings" not in summary
    assert "over the rated result" in summary
    # Categories with no rating are left out, not listed as "0 disagree".
    assert "0 " not in summary


def test_several_ratings_are_plural_with_counts_and_agreement():
    summary = review.build_review(
        records("agree", "agree", "partly_agree", "disagree", None), ""
    ).summary
    assert summary.startswith(
        "**5 ratings**: 2 agree, 1 partly agree, 1 disagree, 1 without an overall rating."
    )
    assert "**62%** over the 4 rated results" in summary  # (2 + 0.5) / 4


def test_ratings_without_an_overall_rating_give_a_sentence_instead_of_charts():
    shown = review.build_review(records(None, None), "")
    assert not shown.charts_visible
    assert "None has an overall rating yet, so there is no agreement to chart." in shown.summary
    assert len(shown.recent) == 2  # the rows are still listed


def test_a_group_with_no_agreement_still_has_a_visible_bar():
    shown = review.build_review(records("disagree", template="derm"), "")
    assert shown.charts_visible
    rows = shown.by_template[shown.by_template["Ratings"] > 0]
    assert rows.to_dict("records") == [
        {"Group": "Dermatology · 0%", "Overall rating": "Disagree", "Ratings": 1}
    ]
    # Every rating is present (zero where absent) so the legend keeps all three colours.
    assert list(shown.by_template["Overall rating"]) == ["Agree", "Partly agree", "Disagree"]


def test_groups_are_labelled_by_template_name_and_agreement():
    mixed = records("agree", "partly_agree") + records("disagree", template="ct", backend="vertex")
    shown = review.build_review(mixed, "")
    assert set(shown.by_template["Group"]) == {"Chest X-ray · 75%", "CT · 0%"}
    assert set(shown.by_backend["Group"]) == {"openai · 75%", "vertex · 0%"}


def test_headers_are_words_not_field_names():
    frame = review.build_review(records("agree", "partly_agree", None), "").recent
    assert list(frame.columns) == review.RECENT_COLUMNS
    for header in frame.columns:
        assert "_" not in header and header[0].isupper(), header
    assert len(review.RECENT_COLUMN_WIDTHS) == len(review.RECENT_COLUMNS)
    first = frame.iloc[-1]  # oldest of equal times sorts last: check values are words too
    assert set(frame["Template"]) == {"Chest X-ray"}
    assert set(frame["Overall rating"]) == {"Agree", "Partly agree", "—"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", first["Rated (UTC)"])


def test_table_label_counts_what_it_shows():
    assert review.build_review(records("agree"), "").recent_label == "The only rating"
    assert review.build_review(records("agree", None), "").recent_label == (
        "All 2 ratings, latest first"
    )
    many = [make_record(0, i) for i in range(review.RECENT_LIMIT + 3)]
    shown = review.build_review(many, "")
    assert shown.recent_label == "Latest 50 of 53 ratings"
    assert len(shown.recent) == review.RECENT_LIMIT


DESTINATIONS = [
    pytest.param(
        {}, {}, False, "Ratings are saved in the feedback database on this server.", id="local"
    ),
    pytest.param(
        {"dataset_repo": "org/fb", "dataset_token": "hf_x"},
        {},
        False,
        "pushed every 5 minutes",
        id="hub",
    ),
    pytest.param(
        {"dataset_repo": "org/fb", "dataset_token": "hf_x"}, {}, True, "offline mode", id="offline"
    ),
    pytest.param({"dataset_repo": "org/fb"}, {}, False, "has no token", id="no-token"),
    pytest.param({}, {"on_spaces": True}, False, "wiped on restart", id="spaces"),
    pytest.param(
        {"db_url": "postgresql://feedback:secret@db.example/ratings"},
        {},
        False,
        "Ratings are saved in the shared feedback database (PostgreSQL).",
        id="postgresql",
    ),
]


@pytest.mark.parametrize(("feedback", "server", "offline", "fragment"), DESTINATIONS)
def test_destination_has_no_path_and_no_variable_names(
    tmp_path, feedback, server, offline, fragment
):
    settings = make_settings(tmp_path, **feedback)
    settings = settings.with_changes(server=replace(settings.server, **server))
    sentence = review.destination_sentence(settings, hub_offline=offline)
    assert fragment in sentence
    assert str(tmp_path) not in sentence and "sqlite3" not in sentence
    assert "/" not in sentence.replace("org/fb", "")
    assert not re.search(r"\b[A-Z]+_[A-Z_]+\b", sentence), sentence
    assert "hf_x" not in sentence


# -- handlers against a real store ----------------------------------------------------------------


def _services(tmp_path: Path, *saved):
    services = create_services(make_settings(tmp_path))
    for record in saved:
        services.feedback_store.save(record)
    return services


async def test_load_review_hides_charts_and_table_when_empty(tmp_path):
    summary, by_template, by_backend, recent = await review.load_review("", _services(tmp_path))
    assert summary.startswith("No ratings yet.")
    assert by_template["visible"] is False and by_backend["visible"] is False
    assert recent["visible"] is False


async def test_load_review_shows_charts_and_rows_in_the_session(tmp_path):
    saved = [make_record(w, i) for w in range(3) for i in range(2)]  # sessions 0, 1, 2
    services = _services(tmp_path, *saved)
    summary, by_template, _, recent = await review.load_review(" session 1 ", services)
    assert summary.startswith("**2 ratings** in session **session 1**:")
    assert by_template["visible"] is True
    assert recent["visible"] is True and len(recent["value"]) == 2
    assert set(recent["value"]["Session"]) == {"session 1"}


async def test_export_offers_files_but_says_no_path(tmp_path):
    services = _services(tmp_path, *records("agree", "disagree"))
    paths, note = await review.export_feedback("", services)
    assert [Path(p).suffix for p in paths] == [".csv", ".jsonl"]
    assert all(Path(p).is_file() for p in paths)
    assert len(Path(paths[1]).read_text(encoding="utf-8").splitlines()) == 2
    assert note == "Exported 2 ratings as CSV and JSON Lines: download them below."
    assert "/" not in note


async def test_export_offers_the_comparison_votes_too(tmp_path):
    from tests.feedback.test_comparison_store import ARMS, jpeg, vote

    services = _services(tmp_path, *records("agree"))
    store = services.feedback_store
    session = store.create_comparison("Pilot", ARMS, [(jpeg(n), {}) for n in range(2)])
    store.save_vote(vote(session, 0, "Dr A", "a"))
    store.save_vote(vote(session, 1, "Dr A", "b"))
    paths, note = await review.export_feedback("", services)
    assert [Path(p).name.split("-")[1] for p in paths][2:] == ["votes", "votes"]
    assert [Path(p).suffix for p in paths] == [".csv", ".jsonl", ".csv", ".jsonl"]
    votes = [json.loads(line) for line in Path(paths[3]).read_text().splitlines()]
    assert [v["vote"] for v in votes] == ["a", "b"]
    assert note == (
        "Exported 1 rating and 2 comparison votes as CSV and JSON Lines: download them below."
    )
    # A session of votes alone is exported too.
    only, note = await review.export_feedback("Pilot", services)
    assert len(only) == 2 and note.startswith("Exported 2 comparison votes in session **Pilot**")
    # Both are purged with the other exports.
    review.purge_exports(services.exports_dir, max_age_s=-1)
    assert not any(Path(p).exists() for p in [*paths, *only])


async def test_export_with_nothing_to_export_offers_no_files(tmp_path):
    paths, note = await review.export_feedback("", _services(tmp_path, *records("agree")))
    assert len(paths) == 2
    paths, note = await review.export_feedback("nobody", _services(tmp_path / "b"))
    assert paths == [] and note == "No ratings to export yet in session **nobody**."


def test_wrong_admin_password_is_refused(tmp_path):
    import gradio as gr

    from medgemma_ui.ui.access import require_admin

    services = create_services(make_settings(tmp_path, admin_password="s3cret"))
    with pytest.raises(gr.Error, match="admin password"):
        require_admin(services, None, "nope")
    with pytest.raises(gr.Error, match="admin password"):
        require_admin(services, None, "")
    assert require_admin(services, None, "s3cret") is None


# -- in a real browser ----------------------------------------------------------------------------
