"""Process-wide services shared by every user: settings, backends, per-backend concurrency gates.

These hold configuration and connection pools only. Per-user data (the uploaded file, the last
result) lives in `gr.State` or in handler arguments, never here. Who is calling is known per event
(`access.Caller`, set by `acting_for` around each handler step) and decides whose share of the
image workers a preparation uses and whose uploads it may read.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from medgemma_ui.backends import BackendRegistry
from medgemma_ui.feedback import FeedbackStore, describe_destination, open_store
from medgemma_ui.imaging import ImageError, PreparedImage, RenderOptions
from medgemma_ui.imaging.workers import PreparePool
from medgemma_ui.settings import Settings
from medgemma_ui.templates import use_templates_dir
from medgemma_ui.ui.access import CALLER, Caller, LoginGuard, OrgGate, caller, current_login
from medgemma_ui.ui.uploads import Uploads, keep

# zlib level of the shown PNGs: a third of the default's (6) time for about 15 % more bytes.
SHOWN_PNG_LEVEL = 2
log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    registry: BackendRegistry
    feedback_store: FeedbackStore
    feedback_destination: str = ""
    org_gate: OrgGate = field(default_factory=lambda: OrgGate(()))
    # Backoff for logins and the admin password (per name and per client address).
    login_guard: LoginGuard = field(default_factory=LoginGuard)
    # Who uploaded which file (random names; see ui/uploads.py).
    uploads: Uploads = field(default_factory=Uploads)
    # Derived from the settings: the worker processes that prepare images.
    prepare_pool: PreparePool = field(init=False)
    # Review exports written under the data folder; build_demo hands this set to Gradio, which
    # purges them with the uploads (hourly, an hour old, and at shutdown).
    exports: set[str] = field(default_factory=set)
    # Files handed to pages (`give`: PACS files, result exports, shown PNGs); build_demo hands
    # this set to Gradio too, so they are purged even if no update ever offered them.
    given: set[str] = field(default_factory=set)
    _gates: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    # Prepared images by (content digest, window, frame); see `prepare`.
    _prepared: OrderedDict[tuple, PreparedImage] = field(default_factory=OrderedDict)
    # Files refused as too large or damaged, by the same key: a bomb that hit a limit or the time
    # limit in the preview is refused again at once by Analyze (or a second upload), not re-run.
    _refused: OrderedDict[tuple, tuple[str, str]] = field(default_factory=OrderedDict)
    # (JPEG SHA-256, login) -> the PNG shown for it (`shown`).
    _shown: OrderedDict[tuple[str, str | None], str] = field(default_factory=OrderedDict)
    # Enough for a series' 85 slices besides a few previews (JPEG bytes, ~150 KB each).
    prepared_cache_size: int = 256

    def __post_init__(self) -> None:
        server = self.settings.server
        self.prepare_pool = PreparePool(
            server.prepare_workers,
            memory_limit_bytes=server.worker_memory_mb * 1024 * 1024 or None,
        )

    @property
    def exports_dir(self) -> Path:
        """Where review exports are written: `exports/` beside the feedback database."""
        return self.settings.feedback.db_path.parent / "exports"

    async def prepare(
        self,
        source: bytes | str | PathLike[str],
        *,
        window: str | None = None,
        frame: int | None = None,
        owner: str | None = None,
    ) -> PreparedImage:
        """`prepare` in an image worker process, remembering the last few results by the file's
        content: the preview's preparation serves Analyze, and the same file uploaded again
        (another tab, an API call, a changed template) is not decoded twice.

        The job is `owner`'s (`access.owner_key`), by default the caller of the event being
        handled (`acting_for`). An upload of another login is refused; with OAuth organisations
        on, so is a call from no known caller (a handler that forgot `acting_for`)."""
        who = CALLER.get()
        if who is None and self.org_gate.enabled:
            raise ImageError(self.org_gate.refusal(), kind="bad_request")
        if isinstance(source, str | PathLike) and not self.uploads.readable(
            source, who.login if who else None
        ):
            raise ImageError(
                "This file was uploaded by another user; upload your own copy.", kind="bad_request"
            )
        owner = owner or (who.owner if who else None)
        options = RenderOptions(window, frame, self.settings.image_limits)
        pool = self.prepare_pool
        try:
            digest = await asyncio.to_thread(_content_digest, source)
        except OSError:  # e.g. purged from Gradio's upload cache: prepare says so in a sentence
            return await pool.prepare(source, options, owner=owner)
        key = (digest, window, frame)
        cached = self._prepared.get(key)
        if cached is not None:
            self._prepared.move_to_end(key)
            return cached
        if (refused := self._refused.get(key)) is not None:
            raise ImageError(refused[0], kind=refused[1])
        try:
            image = await pool.prepare(source, options, owner=owner)
        except ImageError as exc:
            if exc.kind in {"too_large", "corrupt"}:
                self._refused[key] = (str(exc), exc.kind)
                while len(self._refused) > self.prepared_cache_size:
                    self._refused.popitem(last=False)
            raise
        resolved = (digest, image.info.window, image.info.frame_index)
        for each in {key, resolved}:
            self._prepared[each] = image
            self._prepared.move_to_end(each)
        while len(self._prepared) > self.prepared_cache_size:
            self._prepared.popitem(last=False)
        return image

    @asynccontextmanager
    async def gate(self, backend_name: str) -> AsyncIterator[bool]:
        """Each backend gets its own concurrency limit, so a slow endpoint never blocks the
        others. Yields whether the caller had to wait for a slot."""
        semaphore = self._gates.get(backend_name)
        if semaphore is None:
            semaphore = asyncio.Semaphore(self.settings.backends.concurrency)
            self._gates[backend_name] = semaphore
        waited = semaphore.locked()
        if waited:
            log.info("waiting for a free slot on %s", backend_name)
        async with semaphore:
            yield waited

    def require_access(self, oauth_token: object | None) -> str | None:
        """With OAuth org limits on, refuse anyone not signed in as a member; returns their Hub
        user name (None when the limits are off)."""
        if not self.org_gate.enabled:
            return None
        name = self.org_gate.member(getattr(oauth_token, "token", None))
        if name is None:
            import gradio as gr

            raise gr.Error(self.org_gate.refusal(), print_exception=False)
        return name

    def give(self, source: str | PathLike[str], login: str | None, name: str = "") -> str:
        """Hand the file `source` to `login`'s page: moved into Gradio's cache under a random
        folder (and `name`, else its own) and remembered as theirs, so that the file routes
        serve it and `prepare` reads it for that login alone (`uploads.keep`). Returns the path
        to give Gradio."""
        from gradio.utils import get_upload_folder

        path = keep(source, get_upload_folder(), name)
        self.uploads.add(path, login)
        self.given.add(path)
        return path

    async def shown(self, image: PreparedImage) -> str:
        """The PNG of `image` for the caller's page: the exact pixels sent (never re-encoded
        lossily), written once per image and login, then the same file for every update that
        shows it (a PIL image would be PNG-encoded by Gradio again for each: 50-150 ms)."""
        login = current_login()
        key = (image.sha256, login)
        path = self._shown.get(key)
        if path is None or not _touched(path):  # never written, or purged already
            path = await asyncio.to_thread(self._write_shown, image, login)
            self._shown[key] = path
        self._shown.move_to_end(key)
        while len(self._shown) > self.prepared_cache_size:
            self._shown.popitem(last=False)
        return path

    def _write_shown(self, image: PreparedImage, login: str | None) -> str:
        from gradio.utils import get_upload_folder

        folder = Path(get_upload_folder())
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(suffix=".png", dir=folder)  # 0600
        with os.fdopen(handle, "wb") as out:
            image.image.save(out, "PNG", compress_level=SHOWN_PNG_LEVEL)
        return self.give(temporary, login, "preview.png")

    def identify(self, request: Any, oauth_token: object | None = None) -> Caller:
        """The event's caller (`require_access` first): their login and their owner key."""
        return caller(request, self.require_access(oauth_token))

    @contextmanager
    def acting_for(self, request: Any, oauth_token: object | None = None) -> Iterator[Caller]:
        """Around a handler (or each step of a streaming one): whatever it prepares is done for
        this caller, after `require_access`."""
        who = self.identify(request, oauth_token)
        token = CALLER.set(who)
        try:
            yield who
        finally:
            CALLER.reset(token)


def _touched(path: str) -> bool:
    """Mark a file handed out again as fresh (Gradio purges what was last changed an hour ago,
    and touches its own cached copies the same way); False when it is gone."""
    try:
        os.utime(path)
    except OSError:
        return False
    return True


def _content_digest(source: bytes | str | PathLike[str]) -> bytes:
    """SHA-256 of the file (about 1.5 GB/s, so 0.1 ms for a CT slice and 35 ms for a 50 MB
    radiograph, against 20-400 ms to decode them)."""
    if isinstance(source, bytes):
        return hashlib.sha256(source).digest()
    digest = hashlib.sha256()
    with open(source, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.digest()


def create_services(settings: Settings | None = None) -> Services:
    settings = settings or Settings.from_env()
    if settings.templates_dir is not None:  # the templates this process serves
        use_templates_dir(settings.templates_dir)
    return Services(
        settings=settings,
        registry=BackendRegistry(settings.backends),
        feedback_store=open_store(settings),
        feedback_destination=describe_destination(settings),
        org_gate=OrgGate(settings.server.oauth_orgs),
    )
