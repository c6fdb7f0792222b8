from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import replace
from pathlib import Path

import pytest
from huggingface_hub import HfApi
from huggingface_hub import constants as hf_constants

from medgemma_ui.feedback import HubShardWriter, describe_destination, open_store
from medgemma_ui.feedback.export import export_row
from medgemma_ui.feedback.hub_sync import start_hub_sync
from medgemma_ui.settings import FeedbackSettings, ServerSettings, Settings
from tests.feedback.factory import make_record
from tests.feedback.fake_hub import fake_hub

TOKEN = "hf_" + "T0k3n" * 7


@pytest.fixture(autouse=True)
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    # HF_HUB_OFFLINE blocks even loopback requests in huggingface_hub 2.4.0 (see gradio.md).
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)


def wait_for_initial_push(writer: HubShardWriter) -> None:
    # The scheduler pushes once as soon as it starts; let that (empty) push finish first so the
    # commits counted below are exactly the ones this test triggers.
    deadline = time.monotonic() + 10
    while getattr(writer.scheduler, "last_future", None) is None:
        assert time.monotonic() < deadline, "scheduler never started"
        time.sleep(0.01)
    writer.scheduler.last_future.result(timeout=10)  # type: ignore[union-attr]


def lines(data: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in data.decode().splitlines()]


def test_saved_ratings_reach_a_private_dataset_through_commit_scheduler(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    jpeg = b"\xff\xd8 prepared jpeg"
    sha = hashlib.sha256(jpeg).hexdigest()
    settings = FeedbackSettings(
        db_path=tmp_path / "data" / "feedback.sqlite3",
        dataset_repo="clinic-org/cxr-feedback",
        dataset_token=TOKEN,
        keep_images=True,
    )
    caplog.set_level(logging.INFO, logger="medgemma_ui")
    with fake_hub() as hub:
        store = open_store(settings, hf_api=HfApi(endpoint=hub.url, token=TOKEN))
        (writer,) = [w for w in store.listeners if isinstance(w, HubShardWriter)]
        try:
            wait_for_initial_push(writer)
            assert hub.commits == []
            assert hub.created == [
                {
                    "name": "cxr-feedback",
                    "organization": "clinic-org",
                    "visibility": "private",
                    "type": "dataset",
                }
            ]
            first = make_record(0, 0, image_sha256=sha, image_jpeg=jpeg)
            store.save(first)
            store.save(replace(first, overall_rating="agree", comment="revised"))
            store.save(make_record(0, 1))
            writer.scheduler.trigger().result(timeout=30)  # type: ignore[union-attr]

            shard = f"feedback/{writer.shard.name}"
            assert writer.shard.name.startswith("feedback-") and writer.shard.suffix == ".jsonl"
            assert len(hub.commits) == 1
            assert hub.commits[0]["repo"] == "clinic-org/cxr-feedback"
            assert hub.commits[0]["type"] == "dataset"
            assert set(hub.commits[0]["files"]) == {shard, f"images/{sha}.jpg"}
            assert hub.files[f"images/{sha}.jpg"] == jpeg
            pushed = lines(hub.files[shard])
            assert [(r["id"], r["overall_rating"]) for r in pushed] == [
                (first.id, first.overall_rating),
                (first.id, "agree"),
                (make_record(0, 1).id, make_record(0, 1).overall_rating),
            ]
            assert pushed[1] == export_row(store.get(first.id), image_kept=True)  # type: ignore[arg-type]
            assert pushed[0]["image_kept"] is True and pushed[2]["image_kept"] is False
            assert all("image_jpeg" not in r for r in pushed)

            store.save(make_record(0, 2))
            writer.scheduler.trigger().result(timeout=30)  # type: ignore[union-attr]
            assert len(hub.commits) == 2
            assert set(hub.commits[1]["files"]) == {shard}  # the image did not change
            assert len(lines(hub.files[shard])) == 4

            # nothing new: no commit
            assert writer.scheduler.trigger().result(timeout=30) is None  # type: ignore[union-attr]
            assert len(hub.commits) == 2
        finally:
            writer.scheduler.stop()  # type: ignore[union-attr]
            store.close()
    assert set(hub.auth) == {f"Bearer {TOKEN}"}
    assert hub.unexpected == []
    assert "pushed every 5 minutes to the private dataset clinic-org/cxr-feedback" in caplog.text
    assert "MEDGEMMA_FEEDBACK_KEEP_IMAGES is on" in caplog.text
    assert TOKEN not in caplog.text


def test_refused_dataset_keeps_feedback_local_and_logs_without_the_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = FeedbackSettings(
        db_path=tmp_path / "f.db", dataset_repo="org/name", dataset_token=TOKEN
    )
    with fake_hub() as hub:
        hub.refuse_create = True
        store = open_store(settings, hf_api=HfApi(endpoint=hub.url, token=TOKEN))
    assert store.listeners == []
    assert "Could not start pushing feedback to org/name" in caplog.text
    assert TOKEN not in caplog.text
    assert store.save(make_record(0, 0)) and store.count() == 1


def test_start_hub_sync_needs_repo_and_token(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs MEDGEMMA_FEEDBACK_DATASET and a token"):
        start_hub_sync(FeedbackSettings(db_path=tmp_path / "f.db", dataset_repo="org/name"))


def test_shard_writer_without_scheduler_appends_whole_lines(tmp_path: Path) -> None:
    a, b = HubShardWriter(tmp_path), HubShardWriter(tmp_path)
    assert a.shard != b.shard  # one shard per writer (per process)
    for i in range(3):
        a(make_record(1, i))
    assert [r["id"] for r in lines(a.shard.read_bytes())] == [
        make_record(1, i).id for i in range(3)
    ]
    assert not (tmp_path / "images").exists()
    assert a.scheduler is None


def test_describe_destination_names_where_feedback_goes(monkeypatch: pytest.MonkeyPatch) -> None:
    local = FeedbackSettings(db_path=Path("data/feedback.sqlite3"))
    assert describe_destination(local) == (
        "Feedback is saved to data/feedback.sqlite3 on this machine; on Hugging Face Spaces this "
        "disk is wiped on restart — set MEDGEMMA_FEEDBACK_DATASET and a token to keep it."
    )
    on_spaces = Settings(server=ServerSettings(on_spaces=True), feedback=local)
    assert "this Space's disk is wiped on restart" in describe_destination(on_spaces)
    synced = FeedbackSettings(dataset_repo="org/name", dataset_token=TOKEN)
    assert describe_destination(synced).endswith(
        "and pushed every 5 minutes to the private dataset org/name."
    )
    no_token = FeedbackSettings(dataset_repo="org/name")
    assert "no token" in describe_destination(no_token)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    assert "HF_HUB_OFFLINE is set, so nothing is pushed" in describe_destination(synced)
    for text in map(describe_destination, (local, on_spaces, synced, no_token)):
        assert TOKEN not in text


def test_shards_and_kept_images_are_private(tmp_path: Path) -> None:
    import os
    import stat

    jpeg = b"\xff\xd8 prepared jpeg"
    sha = hashlib.sha256(jpeg).hexdigest()
    old = os.umask(0o022)
    try:
        writer = HubShardWriter(tmp_path / "hub", keep_images=True)
        writer(make_record(0, 0, image_sha256=sha, image_jpeg=jpeg))
    finally:
        os.umask(old)
    image = tmp_path / "hub" / "images" / f"{sha}.jpg"
    for path, expected in (
        (writer.shard, 0o600),
        (image, 0o600),
        (writer.shard.parent, 0o700),
        (image.parent, 0o700),
        (tmp_path / "hub", 0o700),
    ):
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
