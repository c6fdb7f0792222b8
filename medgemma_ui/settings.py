"""Every knob of the app, read from environment variables and validated once.

`Settings.from_env()` is the only place that reads `os.environ` for configuration. Everything else
receives a `Settings` (or the part of it that it needs) as an argument, so tests can build their
own without touching the process environment. The backends' part, `BackendSettings`, lives in
`medgemma_ui.backends.settings`: each provider declares its own variables there.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from medgemma_ui.backends.settings import BackendSettings
from medgemma_ui.env_values import SettingsError, read_bool, read_float, read_int, read_str
from medgemma_ui.pacs.settings import PacsSettings


@dataclass(frozen=True)
class ImageLimits:
    """Refused before decoding. Defaults fit real radiographs (mammograms are ~25 MP)."""

    max_bytes: int = 512 * 1024 * 1024
    max_pixels: int = 60_000_000
    max_frames: int = 5000

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ImageLimits:
        return cls(
            max_bytes=read_int(env, "MEDGEMMA_MAX_IMAGE_MB", 512, 1, 16384) * 1024 * 1024,
            max_pixels=read_int(env, "MEDGEMMA_MAX_IMAGE_MEGAPIXELS", 60, 1, 2000) * 1_000_000,
            max_frames=read_int(env, "MEDGEMMA_MAX_FRAMES", 5000, 1, 1_000_000),
        )


@dataclass(frozen=True)
class GenerationDefaults:
    max_tokens: int = 512
    temperature: float = 0.0
    parse_retries: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GenerationDefaults:
        return cls(
            max_tokens=read_int(env, "MEDGEMMA_MAX_TOKENS", 512, 1, 1024),
            temperature=read_float(env, "MEDGEMMA_TEMPERATURE", 0.0, 0.0, 2.0),
            parse_retries=read_int(env, "MEDGEMMA_PARSE_RETRIES", 1, 0, 2),
        )


@dataclass(frozen=True)
class FeedbackSettings:
    db_path: Path = Path("data/feedback.sqlite3")
    # MEDGEMMA_FEEDBACK_DB as a postgresql:// URL (it may hold a password): PostgreSQL instead.
    db_url: str = field(default="", repr=False)
    session_label: str = ""
    admin_password: str = field(default="", repr=False)
    dataset_repo: str = ""
    dataset_token: str = field(default="", repr=False)
    keep_images: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FeedbackSettings:
        dataset_repo = read_str(env, "MEDGEMMA_FEEDBACK_DATASET")
        owner, _, name = dataset_repo.partition("/")
        if dataset_repo and (not owner or not name or "/" in name or " " in dataset_repo):
            raise SettingsError(
                "MEDGEMMA_FEEDBACK_DATASET must be a dataset repo id like org/name, "
                f"got {dataset_repo!r}."
            )
        db = read_str(env, "MEDGEMMA_FEEDBACK_DB")
        is_url = db.startswith(("postgresql://", "postgres://"))
        if "://" in db and not is_url:
            raise SettingsError(
                "MEDGEMMA_FEEDBACK_DB must be a file path (SQLite) or a postgresql:// URL, "
                f"got a URL with the scheme {db.split('://')[0]!r}."
            )
        return cls(
            db_path=Path(db if db and not is_url else "data/feedback.sqlite3"),
            db_url=db if is_url else "",
            session_label=read_str(env, "MEDGEMMA_SESSION_LABEL"),
            admin_password=read_str(env, "MEDGEMMA_ADMIN_PASSWORD"),
            dataset_repo=dataset_repo,
            dataset_token=read_str(env, "MEDGEMMA_FEEDBACK_TOKEN") or read_str(env, "HF_TOKEN"),
            keep_images=read_bool(env, "MEDGEMMA_FEEDBACK_KEEP_IMAGES", False),
        )

    @property
    def db_target(self) -> Path | str:
        """What `FeedbackStore(...)` opens: the PostgreSQL URL when set, else the SQLite file."""
        return self.db_url or self.db_path


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 7860
    root_path: str = ""
    auth_users: str = field(default="", repr=False)
    max_upload_mb: int = 200
    queue_size: int = 64
    on_spaces: bool = False
    oauth_orgs: tuple[str, ...] = ()
    # Worker processes that prepare images; 0 prepares in a thread of the server instead.
    prepare_workers: int = field(default_factory=lambda: _default_prepare_workers())
    # Each image worker's address space, in MB (0: no limit); a 60-megapixel 16-bit PNG peaks
    # at about 2 GB.
    worker_memory_mb: int = 3072
    # Logins (password or Hugging Face user names) with the admin right: review and export.
    admin_users: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServerSettings:
        on_spaces = bool(read_str(env, "SPACE_ID"))
        default_host = "0.0.0.0" if on_spaces else "127.0.0.1"
        server = cls(
            host=read_str(env, "MEDGEMMA_HOST")
            or read_str(env, "GRADIO_SERVER_NAME")
            or default_host,
            port=read_int(
                env,
                "MEDGEMMA_PORT",
                read_int(env, "GRADIO_SERVER_PORT", 7860, 1, 65535),
                1,
                65535,
            ),
            root_path=read_str(env, "MEDGEMMA_ROOT_PATH"),
            auth_users=read_str(env, "MEDGEMMA_AUTH_USERS"),
            max_upload_mb=read_int(env, "MEDGEMMA_MAX_UPLOAD_MB", 200, 1, 16384),
            queue_size=read_int(env, "MEDGEMMA_QUEUE_SIZE", 64, 1, 10_000),
            on_spaces=on_spaces,
            oauth_orgs=_names(read_str(env, "MEDGEMMA_HF_OAUTH_ORGS")),
            prepare_workers=read_int(
                env, "MEDGEMMA_PREPARE_WORKERS", _default_prepare_workers(), 0, 64
            ),
            worker_memory_mb=_worker_memory_mb(env),
            admin_users=_names(read_str(env, "MEDGEMMA_ADMIN_USERS")),
        )
        if server.oauth_orgs:
            _check_oauth(env)
        return server


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _worker_memory_mb(env: Mapping[str, str]) -> int:
    value = read_int(env, "MEDGEMMA_WORKER_MEMORY_MB", 3072, 0, 1_048_576)
    if 0 < value < 512:
        raise SettingsError(
            f"MEDGEMMA_WORKER_MEMORY_MB must be 0 (no limit) or at least 512, got {value}: an "
            "image worker needs about 200 MB before it reads a file."
        )
    return value


def _check_oauth(env: Mapping[str, str]) -> None:
    """Hugging Face sign-in needs gradio's `oauth` extra and the OAuth app a Space provides."""
    import importlib.util

    missing = [m for m in ("authlib", "itsdangerous") if importlib.util.find_spec(m) is None]
    if missing:
        raise SettingsError(
            "MEDGEMMA_HF_OAUTH_ORGS needs gradio's oauth extra, and "
            f"{' and '.join(missing)} is not installed; install requirements.txt again."
        )
    if not read_str(env, "OAUTH_CLIENT_ID"):
        raise SettingsError(
            "MEDGEMMA_HF_OAUTH_ORGS needs Hugging Face sign-in, which only a Space with "
            "`hf_oauth: true` in its README provides (OAUTH_CLIENT_ID is not set); elsewhere "
            "use MEDGEMMA_AUTH_USERS instead."
        )


def _default_prepare_workers() -> int:
    """One per usable core, at most four: more only queue behind each other on small machines."""
    return max(1, min(4, usable_cpus()))


def usable_cpus(cgroup_cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota. In a
    container (Docker `--cpus`, a 2-vCPU Space) `os.cpu_count()` reports the whole host."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        quota, period = cgroup_cpu_max.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def templates_dir_from_env(env: Mapping[str, str]) -> Path | None:
    """`MEDGEMMA_TEMPLATES_DIR`: a folder of templates used instead of the packaged ones (a copy
    of `medgemma_ui/templates/data` with a department's own added); None: the packaged ones."""
    raw = read_str(env, "MEDGEMMA_TEMPLATES_DIR")
    if not raw:
        return None
    folder = Path(raw).expanduser()
    if not folder.is_dir():
        raise SettingsError(f"MEDGEMMA_TEMPLATES_DIR must be a folder of templates, got {raw!r}.")
    return folder


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    image_limits: ImageLimits = field(default_factory=ImageLimits)
    backends: BackendSettings = field(default_factory=BackendSettings)
    generation: GenerationDefaults = field(default_factory=GenerationDefaults)
    feedback: FeedbackSettings = field(default_factory=FeedbackSettings)
    pacs: PacsSettings = field(default_factory=PacsSettings)
    templates_dir: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            server=ServerSettings.from_env(env),
            image_limits=ImageLimits.from_env(env),
            backends=BackendSettings.from_env(env),
            generation=GenerationDefaults.from_env(env),
            feedback=FeedbackSettings.from_env(env),
            pacs=PacsSettings.from_env(env),
            templates_dir=templates_dir_from_env(env),
        )

    def with_changes(self, **parts: object) -> Settings:
        known = {f.name for f in fields(self)}
        unknown = set(parts) - known
        if unknown:
            raise TypeError(f"unknown settings sections: {sorted(unknown)}")
        return replace(self, **parts)  # type: ignore[arg-type]
