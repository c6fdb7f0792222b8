"""The README front matter is a valid Hugging Face Spaces configuration that matches the pins."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENT_FILES = sorted(ROOT.glob("requirements*.txt"))
PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[0-9][^\s;#]*$")


def front_matter() -> dict:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.match(r"\A---\n(.*?)\n---\n", text, re.S)
    assert match, "README.md must start with a --- YAML front matter block ---"
    data = yaml.safe_load(match.group(1))
    assert isinstance(data, dict)
    return data


def requirement_lines(path: Path) -> list[str]:
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def pinned(path: Path) -> dict[str, str]:
    pins = {}
    for line in requirement_lines(path):
        if line.startswith("-r "):
            continue
        name, version = line.split("==", 1)
        pins[re.sub(r"\[.*\]", "", name).lower().replace("_", "-")] = version
    return pins


def test_front_matter_is_a_gradio_space_on_the_pinned_gradio() -> None:
    fm = front_matter()
    assert fm["sdk"] == "gradio"
    assert str(fm["sdk_version"]) == pinned(ROOT / "requirements.txt")["gradio"]
    assert fm["python_version"] == "3.11"  # a string: YAML 3.10 would be the float 3.1
    assert (ROOT / fm["app_file"]).is_file()
    assert fm["app_file"] == "app.py"
    assert isinstance(fm["title"], str) and fm["title"].strip()
    assert isinstance(fm["short_description"], str) and fm["short_description"].strip()


def test_every_requirement_is_pinned_exactly() -> None:
    assert {p.name for p in REQUIREMENT_FILES} >= {
        "requirements.txt",
        "requirements-dev.txt",
        "requirements-local.txt",
    }
    for path in REQUIREMENT_FILES:
        for line in requirement_lines(path):
            if line.startswith("-r "):
                assert (ROOT / line[3:].strip()).is_file(), f"{path.name}: {line}"
                continue
            assert PIN.match(line), f"{path.name}: {line!r} is not pinned with =="


def test_torch_only_in_the_local_requirements() -> None:
    assert pinned(ROOT / "requirements-local.txt").get("torch") == "2.13.0"
    assert "torch" not in pinned(ROOT / "requirements.txt")
    for path in REQUIREMENT_FILES:
        if path.name != "requirements-local.txt":
            assert "torch" not in pinned(path), path.name


def test_short_description_fits_the_spaces_limit() -> None:
    description = front_matter()["short_description"]
    assert isinstance(description, str) and description.strip()
    assert len(description) <= 60, f"{len(description)} characters: {description!r}"
