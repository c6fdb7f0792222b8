from __future__ import annotations

from pathlib import Path

import pytest

from medgemma_ui.settings import FeedbackSettings, SettingsError


def test_feedback_settings_from_env() -> None:
    fb = FeedbackSettings.from_env(
        {
            "MEDGEMMA_FEEDBACK_DB": "/srv/fb.sqlite3",
            "MEDGEMMA_SESSION_LABEL": "2025-03 radiology",
            "MEDGEMMA_FEEDBACK_DATASET": "clinic/feedback",
            "HF_TOKEN": "hf_fallback",
            "MEDGEMMA_FEEDBACK_KEEP_IMAGES": "yes",
        }
    )
    assert fb.db_path == Path("/srv/fb.sqlite3")
    assert fb.session_label == "2025-03 radiology"
    assert (fb.dataset_repo, fb.dataset_token, fb.keep_images) == (
        "clinic/feedback",
        "hf_fallback",
        True,
    )
    assert "hf_fallback" not in repr(fb)
    assert FeedbackSettings.from_env({"MEDGEMMA_FEEDBACK_DB": " "}).db_path == Path(
        "data/feedback.sqlite3"
    )


@pytest.mark.parametrize("repo", ["feedback", "org/", "/name", "a/b/c", "org/my data"])
def test_malformed_dataset_repo_is_refused(repo: str) -> None:
    with pytest.raises(SettingsError, match="MEDGEMMA_FEEDBACK_DATASET must be a dataset repo id"):
        FeedbackSettings.from_env({"MEDGEMMA_FEEDBACK_DATASET": repo})


def test_a_postgresql_url_selects_postgresql_and_is_never_shown() -> None:
    url = "postgresql://medgemma:s3cret@db.internal:5432/feedback"
    fb = FeedbackSettings.from_env({"MEDGEMMA_FEEDBACK_DB": url})
    assert fb.db_url == url and fb.db_target == url
    assert fb.db_path == Path("data/feedback.sqlite3")  # the Hub shards' folder stays local
    assert "s3cret" not in repr(fb)
    plain = FeedbackSettings.from_env({"MEDGEMMA_FEEDBACK_DB": "/srv/fb.sqlite3"})
    assert plain.db_target == Path("/srv/fb.sqlite3") and plain.db_url == ""
    with pytest.raises(SettingsError, match="a file path \\(SQLite\\) or a postgresql:// URL"):
        FeedbackSettings.from_env({"MEDGEMMA_FEEDBACK_DB": "mysql://x@y/z"})


def test_the_destination_sentence_names_postgresql_without_the_password() -> None:
    from medgemma_ui.feedback import describe_destination

    fb = FeedbackSettings(db_url="postgresql://medgemma:s3cret@db.internal:5432/feedback")
    sentence = describe_destination(fb)
    assert sentence == (
        "Feedback is saved to the PostgreSQL database "
        "postgresql://medgemma@db.internal:5432/feedback."
    )
