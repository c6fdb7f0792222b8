""".env.example, the README and the settings reader agree on variable names and defaults.

Names come from running `Settings.from_env` on a mapping that records every name it is asked
for, not from a list kept by hand; a default "agrees" when setting the variable to the documented
value leaves `Settings` exactly as it is with an empty environment.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from medgemma_ui.backends import backend_classes
from medgemma_ui.dotenv_loader import read_env_file
from medgemma_ui.settings import Settings, usable_cpus

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLE_PATH = ROOT / ".env.example"
EXAMPLE_TEXT = EXAMPLE_PATH.read_text(encoding="utf-8")

# Read by the settings but set by the platform, not by the person configuring the app: each must
# be named (in a comment) in .env.example and in the README.
PLATFORM = {"SPACE_ID", "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT"}
# In .env.example and the README but read outside `Settings`, with where and how.
OUTSIDE_SETTINGS = {
    "MEDGEMMA_LOG_LEVEL": (
        "medgemma_ui/ui/server.py",
        'os.environ.get("MEDGEMMA_LOG_LEVEL", "INFO")',
    ),
    "OPJ_NUM_THREADS": (
        "medgemma_ui/imaging/j2k_reduced.py",
        'os.environ.setdefault("OPJ_NUM_THREADS", str(usable_cpus()))',
    ),
}
DEFAULTS = Settings.from_env({})


class _Recording(Mapping[str, str]):
    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        raise KeyError(key)

    def get(self, key, default=None):  # type: ignore[override]
        self.asked.add(key)
        return default

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return False

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _settings_names() -> set[str]:
    env = _Recording()
    Settings.from_env(env)
    return env.asked


SETTINGS_NAMES = _settings_names()


def _example() -> tuple[dict[str, str], set[str]]:
    """Assigned names with their values (empty included), and names only mentioned in comments."""
    assigned: dict[str, str] = {}
    for line in EXAMPLE_TEXT.splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            assigned[match.group(1)] = match.group(2)
    comments = "\n".join(line for line in EXAMPLE_TEXT.splitlines() if line.startswith("#"))
    return assigned, set(re.findall(r"\b[A-Z][A-Z0-9_]{3,}\b", comments))


EXAMPLE, EXAMPLE_COMMENT_NAMES = _example()


def _readme_table_defaults() -> dict[str, str]:
    """Every `| Variable | Default | Meaning |` row: name -> default cell (rows like
    `A` / `B` | 1 / 2 are split; parentheses and backticks dropped)."""
    rows: dict[str, str] = {}
    in_table = False
    for line in README.splitlines():
        if line.startswith("| Variable | Default |"):
            in_table = True
            continue
        if not line.startswith("|"):
            in_table = False
            continue
        if not in_table or line.startswith("|---"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        names = re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0])
        default = re.sub(r"\([^)]*\)", "", cells[1]).replace("`", "").strip()
        values = [v.strip() for v in default.split(" / ")] if len(names) > 1 else [default]
        assert len(values) == len(names), f"README row {cells[0]}: {len(names)} names, {values}"
        rows.update(zip(names, values, strict=True))
    return rows


def _readme_prose_defaults() -> dict[str, str]:
    """`NAME` (10) and `NAME` (default 300 s) in running text."""
    found = re.findall(r"`([A-Z][A-Z0-9_]+)` \((?:default )?(\d+(?:\.\d+)?)\b", README)
    return dict(found)


README_TABLE = _readme_table_defaults()
README_PROSE = _readme_prose_defaults()

# Defaults the README describes in words; each is checked here against the code instead.
DESCRIBED = {
    "MEDGEMMA_PREPARE_WORKERS": lambda: (
        DEFAULTS.server.prepare_workers == max(1, min(4, usable_cpus()))
    ),
    "OPJ_NUM_THREADS": lambda: True,  # checked against j2k_reduced.py in OUTSIDE_SETTINGS
    "MEDGEMMA_FEEDBACK_TOKEN": lambda: (
        Settings.from_env({"HF_TOKEN": "t"}).feedback.dataset_token == "t"
    ),
}


def _is_default(name: str, value: str) -> bool:
    return Settings.from_env({name: value}) == DEFAULTS


def test_the_recorder_sees_the_settings_reader():
    # Guard against the recorder silently seeing nothing (and every check below passing).
    assert {"MEDGEMMA_PORT", "HF_TOKEN", "MEDGEMMA_FEEDBACK_DB", "SPACE_ID"} <= SETTINGS_NAMES
    assert len(SETTINGS_NAMES) >= 40


def test_every_declared_backend_variable_is_in_env_example_and_read():
    # Each provider declares its variables in its own module; none may be left out of the
    # example file or go unread by Settings.from_env.
    declared = {s.env: s for p in backend_classes() for s in p.declared_settings()}
    assert {"MEDGEMMA_OPENAI_BASE_URL", "HF_TOKEN", "MEDGEMMA_LOCAL_MODEL"} <= set(declared)
    assert not set(declared) - set(EXAMPLE), (
        f".env.example lacks {sorted(set(declared) - set(EXAMPLE))}"
    )
    assert set(declared) <= SETTINGS_NAMES
    # (That each value is the default is checked below for every variable.)
    assert all(not EXAMPLE[name] for name, s in declared.items() if s.secret)


def test_env_example_assigns_every_variable_the_settings_read():
    missing = SETTINGS_NAMES - set(EXAMPLE) - PLATFORM
    assert not missing, f".env.example lacks {sorted(missing)}"


def test_platform_variables_are_explained_not_assigned():
    assert PLATFORM <= SETTINGS_NAMES, "a platform variable is no longer read: update PLATFORM"
    assert not PLATFORM & set(EXAMPLE)
    assert PLATFORM <= EXAMPLE_COMMENT_NAMES
    for name in PLATFORM:
        assert f"`{name}`" in README, name


def test_env_example_has_nothing_the_app_does_not_read():
    for name in set(EXAMPLE) | (EXAMPLE_COMMENT_NAMES & set(OUTSIDE_SETTINGS)):
        if name in SETTINGS_NAMES:
            continue
        assert name in OUTSIDE_SETTINGS, f"{name} in .env.example is read by nothing"
    for name, (path, code) in OUTSIDE_SETTINGS.items():
        assert code in (ROOT / path).read_text(encoding="utf-8"), f"{name} no longer read in {path}"
        assert name in EXAMPLE or name in EXAMPLE_COMMENT_NAMES, name


@pytest.mark.parametrize("name", sorted(n for n in EXAMPLE if n in SETTINGS_NAMES))
def test_env_example_values_are_the_defaults(name):
    # Copying .env.example to .env must change nothing; empty always means "the default".
    assert _is_default(name, EXAMPLE[name]), (
        f".env.example {name}={EXAMPLE[name]} is not the default"
    )


def test_env_example_is_readable_by_the_loader():
    values, problems = read_env_file(EXAMPLE_PATH)
    assert problems == []
    assert values == {k: v for k, v in EXAMPLE.items() if v}


def test_every_variable_is_documented_in_the_readme():
    undocumented = {n for n in set(EXAMPLE) | SETTINGS_NAMES if f"`{n}`" not in README}
    assert not undocumented, f"README never names {sorted(undocumented)}"


@pytest.mark.parametrize("name", sorted(README_TABLE))
def test_readme_table_defaults_agree(name):
    default = README_TABLE[name]
    assert name in EXAMPLE or name in EXAMPLE_COMMENT_NAMES, f"{name} is not in .env.example"
    if name in DESCRIBED:
        assert DESCRIBED[name](), f"README's default for {name} ({default!r}) is not what happens"
        assert not EXAMPLE.get(name), f".env.example pins {name}, whose default depends"
        return
    assert " " not in default, f"{name}: describe {default!r} in DESCRIBED or give a value"
    if name in OUTSIDE_SETTINGS:
        assert f'"{default}"' in OUTSIDE_SETTINGS[name][1]
    else:
        assert _is_default(name, default), f"README says {name} defaults to {default!r}"
    if EXAMPLE.get(name):
        assert EXAMPLE[name].lower() == default.lower(), (name, EXAMPLE[name], default)


def test_readme_table_found_the_rows():
    # Both tables (Configuration, Feedback sessions) parsed; a format change must not hide rows.
    assert {"MEDGEMMA_HOST", "MEDGEMMA_PORT", "MEDGEMMA_BACKEND_CONCURRENCY"} <= set(README_TABLE)
    assert {"MEDGEMMA_FEEDBACK_DB", "MEDGEMMA_FEEDBACK_KEEP_IMAGES"} <= set(README_TABLE)
    assert README_TABLE["MEDGEMMA_HOST"] == "127.0.0.1"


@pytest.mark.parametrize("name", sorted(README_PROSE))
def test_readme_prose_defaults_agree(name):
    value = README_PROSE[name]
    assert _is_default(name, value), f"README says {name} defaults to {value}"
    if EXAMPLE.get(name):
        assert float(EXAMPLE[name]) == float(value), (name, EXAMPLE[name], value)


def test_readme_prose_found_the_timeouts():
    assert {"MEDGEMMA_CONNECT_TIMEOUT_S", "MEDGEMMA_WAKE_WAIT_S"} <= set(README_PROSE)
