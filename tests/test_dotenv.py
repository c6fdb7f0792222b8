"""`.env` in the working directory is read at start and never overrides the environment."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from medgemma_ui.dotenv_loader import load_env_file, read_env_file

ROOT = Path(__file__).resolve().parents[1]
SECRET = "hf_s3cret-value-that-must-not-be-printed"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_values_are_loaded_and_the_environment_wins(tmp_path):
    env_file = _write(
        tmp_path / ".env",
        "# comment\n"
        "MEDGEMMA_PORT=8123\n"
        "export MEDGEMMA_SESSION_LABEL='ward round'\n"
        'HF_TOKEN="from-file"\n'
        "MEDGEMMA_ADMIN_PASSWORD=pa$$word${HOME}\n",
    )
    environ = {"HF_TOKEN": "from-environment"}
    loaded = load_env_file(env_file, environ)
    assert environ["HF_TOKEN"] == "from-environment"
    assert environ["MEDGEMMA_PORT"] == "8123"
    assert environ["MEDGEMMA_SESSION_LABEL"] == "ward round"
    assert environ["MEDGEMMA_ADMIN_PASSWORD"] == "pa$$word${HOME}"  # taken literally
    assert sorted(loaded) == ["MEDGEMMA_ADMIN_PASSWORD", "MEDGEMMA_PORT", "MEDGEMMA_SESSION_LABEL"]


def test_a_variable_set_to_empty_in_the_environment_is_still_set(tmp_path):
    environ = {"MEDGEMMA_PORT": ""}
    load_env_file(_write(tmp_path / ".env", "MEDGEMMA_PORT=8123\n"), environ)
    assert environ == {"MEDGEMMA_PORT": ""}


def test_empty_values_count_as_unset(tmp_path):
    # Copying .env.example unchanged must not export GOOGLE_APPLICATION_CREDENTIALS="" and friends.
    environ: dict[str, str] = {}
    env_file = _write(tmp_path / ".env", "GOOGLE_APPLICATION_CREDENTIALS=\nHF_TOKEN=''\n")
    load_env_file(env_file, environ)
    assert environ == {}


def test_default_path_is_the_working_directory(tmp_path, monkeypatch):
    _write(tmp_path / ".env", "MEDGEMMA_SESSION_LABEL=here\n")
    monkeypatch.chdir(tmp_path)
    environ: dict[str, str] = {}
    assert load_env_file(environ=environ) == ["MEDGEMMA_SESSION_LABEL"]
    assert environ == {"MEDGEMMA_SESSION_LABEL": "here"}


def test_missing_file_sets_nothing(tmp_path):
    environ: dict[str, str] = {}
    assert load_env_file(tmp_path / ".env", environ) == []
    assert environ == {}


def test_a_malformed_line_is_named_by_number_without_its_value(tmp_path):
    env_file = _write(
        tmp_path / ".env",
        f"MEDGEMMA_PORT=8123\n\nHF_TOKEN = '{SECRET}\nMEDGEMMA_SESSION_LABEL=after\n{SECRET}\n",
    )
    errors = io.StringIO()
    environ: dict[str, str] = {}
    load_env_file(env_file, environ, errors)
    text = errors.getvalue()
    assert SECRET not in text
    assert ".env line 3 is not NAME=value and was skipped" in text
    assert ".env line 5 has a name but no '=' and was skipped" in text
    assert len(text.strip().splitlines()) == 2
    # The lines around the bad ones still count.
    assert environ["MEDGEMMA_PORT"] == "8123"
    assert "HF_TOKEN" not in environ


def test_a_file_that_is_not_utf8_is_one_sentence(tmp_path):
    path = tmp_path / ".env"
    path.write_bytes(b"HF_TOKEN=\xff\xfe\n")
    assert read_env_file(path) == ({}, [".env is not UTF-8 text, so none of it was read."])


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEDGEMMA_")}
    clean.update(PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=120
    )


# A bad value in .env makes the app stop before it listens, naming the variable: proof that the
# file was read, without starting a server. Set in the environment too, the environment's wins.
START_COMMANDS = [
    pytest.param([str(ROOT / "app.py")], id="app.py"),
    pytest.param(["-m", "medgemma_ui", "serve"], id="serve"),
    pytest.param(["-m", "medgemma_ui", "analyze", "x.png", "--template", "cxr"], id="analyze"),
]


@pytest.mark.parametrize("args", START_COMMANDS)
def test_start_commands_read_dotenv_from_the_working_directory(tmp_path, args):
    _write(tmp_path / ".env", "MEDGEMMA_MAX_TOKENS=from-dotenv\n")
    result = _run(args, tmp_path)
    assert result.returncode != 0
    assert "MEDGEMMA_MAX_TOKENS must be a whole number, got 'from-dotenv'." in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", START_COMMANDS)
def test_start_commands_let_the_environment_win(tmp_path, args):
    _write(tmp_path / ".env", "MEDGEMMA_MAX_TOKENS=from-dotenv\n")
    result = _run(args, tmp_path, MEDGEMMA_MAX_TOKENS="from-environment")
    assert result.returncode != 0
    assert "got 'from-environment'" in result.stderr
    assert "from-dotenv" not in result.stderr
