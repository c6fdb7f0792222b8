"""A rating belongs to one result: through the API, a client that analyses again in the same
session gets a new rating, never an overwrite of the one it was already told was saved."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from gradio_client import Client, handle_file
from PIL import Image

from medgemma_ui.feedback import FeedbackStore
from tests.support.app_runner import running_app, settings_for
from tests.support.model_server import ModelServer, Script


def test_a_second_analysis_in_one_api_session_is_rated_separately(tmp_path: Path) -> None:
    for n in range(2):
        Image.fromarray(np.full((64, 64), 40 + 100 * n, np.uint8)).save(tmp_path / f"{n}.png")
    with ModelServer(Script()) as server:
        settings = settings_for(server, tmp_path)
        settings = settings.with_changes(server=replace(settings.server, prepare_workers=0))
        with running_app(settings) as url:
            client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
            client.predict(
                handle_file(str(tmp_path / "0.png")), template="cxr", api_name="/analyze"
            )
            first, _ = client.predict(overall="agree", comment="first", api_name="/save_feedback")
            again, _ = client.predict(
                overall="partly_agree", comment="first, changed", api_name="/save_feedback"
            )
            client.predict(
                handle_file(str(tmp_path / "1.png")), template="cxr", api_name="/analyze"
            )
            second, _ = client.predict(
                overall="disagree", comment="second", api_name="/save_feedback"
            )
            # The same image again at once: the same provenance to the second, a new result still.
            client.predict(
                handle_file(str(tmp_path / "1.png")), template="cxr", api_name="/analyze"
            )
            third, _ = client.predict(overall="agree", comment="third", api_name="/save_feedback")
    assert "Rating saved" in first and "Rating updated" in again  # same result: same record
    assert "Rating saved" in second and "Rating saved" in third  # other results: new records
    with FeedbackStore(settings.feedback.db_path) as store:
        records = list(store.iter_all())
    assert sorted(r.comment for r in records) == ["first, changed", "second", "third"]
    assert len({r.image_sha256 for r in records}) == 2
