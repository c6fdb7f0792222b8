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
