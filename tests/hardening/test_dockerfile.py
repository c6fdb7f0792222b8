"""The Dockerfile names only files that exist and follows the deployment rules (issue 8, item 3).

`docker build` cannot run here, so this reads the Dockerfile as data.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def args_of(kind: str) -> list[str]:
    return [rest for word, rest in instructions() if word == kind]


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str) -> bool:
    for pattern in dockerignore():
        pattern = pattern.rstrip("/")
        parts = Path(path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes):
            return True
    return False


def env() -> dict[str, str]:
    values: dict[str, str] = {}
    for rest in args_of("ENV"):
        for item in shlex.split(rest):
            key, _, value = item.partition("=")
            values[key] = value
    return values


def test_base_image_is_python_311_slim() -> None:
    assert instructions()[0] == ("FROM", "python:3.11-slim")


def test_every_copied_source_exists_and_is_not_dockerignored() -> None:
    copies = args_of("COPY") + args_of("ADD")
    assert copies
    for rest in copies:
        parts = [p for p in shlex.split(rest) if not p.startswith("--")]
        for source in parts[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
            assert not ignored(source), f"COPY {source}: excluded by .dockerignore"
            assert not source.startswith((".env", ".git", ".venv", "data", "tests"))


def test_runs_as_a_non_root_user() -> None:
    users = args_of("USER")
    assert users, "the image must switch to a non-root user"
    assert users[-1] not in {"root", "0", "0:0"}
    order = [word for word, _ in instructions()]
    assert order.index("USER") < order.index("CMD")
    assert any(users[-1] in run and "useradd" in run for run in args_of("RUN"))


def test_installs_only_the_pinned_runtime_requirements() -> None:
    installs = [run for run in args_of("RUN") if "pip" in run]
    assert installs
    for run in installs:
        words = shlex.split(run)
        assert words[:2] == ["pip", "install"], run
        packages = [w for w in words[2:] if not w.startswith("-")]
        assert packages == ["requirements.txt"], f"installs something besides -r: {run}"
        assert "-r" in words
    assert not any("requirements-" in run for run in args_of("RUN"))
    assert not any("apt-get" in run for run in args_of("RUN"))  # no packages.txt needed


def test_health_check_port_matches_expose_and_the_app_port() -> None:
    (exposed,) = args_of("EXPOSE")
    (health,) = args_of("HEALTHCHECK")
    match = re.search(r"http://127\.0\.0\.1:(\d+)/", health)
    assert match, health
    assert match.group(1) == exposed == env()["MEDGEMMA_PORT"] == "7860"
    assert "urllib.request" in health and "timeout=" in health


def test_privacy_and_listen_environment() -> None:
    values = env()
    assert values["MEDGEMMA_HOST"] == "0.0.0.0"
    assert values["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert values["HF_HUB_DISABLE_TELEMETRY"] == "1"


def test_command_starts_the_app() -> None:
    (command,) = args_of("CMD")
    assert json.loads(command) == ["python", "app.py"]
    assert (ROOT / "app.py").is_file()


def test_dockerignore_keeps_secrets_environments_and_data_out() -> None:
    for path in (".venv/bin/python", ".git/HEAD", ".env", "data/feedback.sqlite3"):
        assert ignored(path), path
    for cache in (".pytest_cache", ".ruff_cache", ".hypothesis", "tests"):
        assert ignored(cache), cache
    assert not ignored("medgemma_ui/imaging/prepared.py")
    assert not ignored("app.py")
