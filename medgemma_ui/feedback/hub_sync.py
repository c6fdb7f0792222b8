"""Keep feedback beyond an ephemeral disk: JSON Lines shards pushed to a private Hub dataset.

The store (SQLite or PostgreSQL) stays the source of truth. When a dataset repo and a token are
configured, each saved rating, and each comparison vote (its line says `record_type`
"comparison_vote", as in `feedback export --votes`), is also appended as one JSON line to
`feedback/feedback-<uuid>.jsonl` (one shard per process, so processes never write the same file)
in a local folder that `huggingface_hub.CommitScheduler` pushes every few minutes. A changed
rating is appended again with the same `id`; readers keep the line with the latest `updated_at`.
With `keep_images`, the prepared JPEG goes to `images/<sha256>.jpg` beside the shards (one file
per distinct image, not base64 inside the lines). Shards and images are files of mode 0600.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medgemma_ui.feedback.comparison import ComparisonVote
from medgemma_ui.feedback.export import export_row, vote_row
from medgemma_ui.feedback.files import open_private, private_folder, write_private_bytes
from medgemma_ui.feedback.postgres import describe_url
from medgemma_ui.feedback.record import FeedbackRecord
from medgemma_ui.feedback.store import FeedbackStore
from medgemma_ui.redaction import redact
from medgemma_ui.settings import FeedbackSettings, Settings

if TYPE_CHECKING:
    from huggingface_hub import CommitScheduler, HfApi

log = logging.getLogger(__name__)

SYNC_EVERY_MINUTES = 5
KEEP_IMAGES_WARNING = (
    "MEDGEMMA_FEEDBACK_KEEP_IMAGES is on: the prepared images are stored with the feedback"
    "{where}. Medical images can identify a patient even without tags (faces, burned-in text); "
    "make sure your data-governance approval covers keeping them, and who can read that store."
)


class HubShardWriter:
    """Appends saved records to this process's shard; use as a `FeedbackStore` listener.

    Appends happen under the scheduler's lock, so a push never uploads half a line: the scheduler
    lists files and their sizes under the same lock and uploads each file only up to that size.
    """

    def __init__(
        self,
        folder: Path | str,
        *,
        scheduler: CommitScheduler | None = None,
        keep_images: bool = False,
    ) -> None:
        self.folder = Path(folder)
        self.scheduler = scheduler
        self.keep_images = keep_images
        self.lock: Any = scheduler.lock if scheduler is not None else threading.Lock()
        self.shard = self.folder / "feedback" / f"feedback-{uuid.uuid4().hex}.jsonl"
        private_folder(self.shard.parent)

    def __call__(self, saved: FeedbackRecord | ComparisonVote) -> None:
        self.write(saved)

    def write(self, saved: FeedbackRecord | ComparisonVote) -> None:
        image = saved.image_jpeg if isinstance(saved, FeedbackRecord) else None
        keep = self.keep_images and image is not None
        row = (
            export_row(saved, image_kept=keep)
            if isinstance(saved, FeedbackRecord)
            else vote_row(saved)
        )
        line = json.dumps(row, ensure_ascii=False) + "\n"
        with self.lock:
            if keep:
                self._write_image(saved.image_sha256, image or b"")
            with open_private(self.shard, "a") as f:
                f.write(line)

    def _write_image(self, sha256: str, jpeg: bytes) -> None:
        target = self.folder / "images" / f"{sha256}.jpg"
        if target.exists():
            return
        private_folder(target.parent)
        tmp = target.with_name(f".{sha256}.{os.getpid()}.tmp")  # dot files: never uploaded
        write_private_bytes(tmp, jpeg)
        os.replace(tmp, target)


def _feedback(settings: Settings | FeedbackSettings) -> FeedbackSettings:
    return settings.feedback if isinstance(settings, Settings) else settings


def hub_configured(settings: Settings | FeedbackSettings) -> bool:
    fb = _feedback(settings)
    return bool(fb.dataset_repo and fb.dataset_token)


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.is_offline_mode())


def describe_destination(settings: Settings | FeedbackSettings) -> str:
    """One sentence for the start-up log and the UI: where feedback is going."""
    fb = _feedback(settings)
    on_spaces = isinstance(settings, Settings) and settings.server.on_spaces
    here = (
        f"Feedback is saved to the PostgreSQL database {describe_url(fb.db_url)}"
        if fb.db_url
        else f"Feedback is saved to {fb.db_path} on this machine"
    )
    if fb.dataset_repo and fb.dataset_token:
        if _hub_offline():
            return (
                f"{here}, but HF_HUB_OFFLINE is set, so nothing is pushed to the dataset "
                f"{fb.dataset_repo}; unset it to keep feedback beyond this disk."
            )
        return (
            f"{here} and pushed every {SYNC_EVERY_MINUTES} minutes to the private dataset "
            f"{fb.dataset_repo}."
        )
    if fb.dataset_repo:
        return (
            f"{here}; MEDGEMMA_FEEDBACK_DATASET is set but there is no token "
            "(MEDGEMMA_FEEDBACK_TOKEN or HF_TOKEN), so nothing is pushed to "
            f"{fb.dataset_repo}."
        )
    if fb.db_url:
        return f"{here}."
    if on_spaces:
        return (
            f"{here}; this Space's disk is wiped on restart — set MEDGEMMA_FEEDBACK_DATASET "
            "and a token to keep it."
        )
    return (
        f"{here}; on Hugging Face Spaces this disk is wiped on restart — set "
        "MEDGEMMA_FEEDBACK_DATASET and a token to keep it."
    )


def hub_folder(settings: Settings | FeedbackSettings) -> Path:
    """The local folder whose contents are pushed: next to the database."""
    return _feedback(settings).db_path.parent / "feedback-hub"


def start_hub_sync(
    settings: Settings | FeedbackSettings,
    *,
    folder: Path | str | None = None,
    every: float = SYNC_EVERY_MINUTES,
    hf_api: HfApi | None = None,
) -> HubShardWriter:
    """Create the private dataset if needed and start pushing; raises if the Hub refuses.

    `hf_api` lets tests point at a loopback server (`HfApi(endpoint=..., token=...)`).
    """
    from huggingface_hub import CommitScheduler

    fb = _feedback(settings)
    if not hub_configured(fb):
        raise ValueError("Hub sync needs MEDGEMMA_FEEDBACK_DATASET and a token.")
    folder = Path(folder) if folder is not None else hub_folder(fb)
    scheduler = CommitScheduler(
        repo_id=fb.dataset_repo,
        repo_type="dataset",
        folder_path=folder,
        every=every,
        private=True,
        token=fb.dataset_token,
        allow_patterns=["feedback/*.jsonl", "images/*.jpg"],
        hf_api=hf_api,
    )
    return HubShardWriter(folder, scheduler=scheduler, keep_images=fb.keep_images)


def open_store(
    settings: Settings | FeedbackSettings, *, hf_api: HfApi | None = None
) -> FeedbackStore:
    """The app's store: SQLite, or PostgreSQL when MEDGEMMA_FEEDBACK_DB is a postgresql:// URL,
    plus the Hub shard writer when configured. Logs where feedback goes (and the data-governance
    warning when images are kept)."""
    fb = _feedback(settings)
    store = FeedbackStore(fb.db_target, keep_images=fb.keep_images)
    store.count()  # create and migrate now, so a bad path fails at start-up, not at first rating
    log.info("%s", describe_destination(settings))
    if fb.keep_images:
        where = f" in {store.describe()}"
        if hub_configured(fb):
            where += f" and the dataset {fb.dataset_repo}"
        log.warning(KEEP_IMAGES_WARNING.format(where=where))
    if hub_configured(fb) and not _hub_offline():
        try:
            store.listeners.append(start_hub_sync(fb, hf_api=hf_api))
        except Exception as exc:
            log.error(
                "Could not start pushing feedback to %s (%s); it stays only in %s.",
                fb.dataset_repo,
                redact(str(exc)),
                store.describe(),
            )
    return store
