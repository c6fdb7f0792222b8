"""Read `.env` from the current working directory into `os.environ` at start (python-dotenv).

Called first by `python app.py`, `python -m medgemma_ui serve` and `python -m medgemma_ui analyze`,
before `Settings.from_env()`. Variables already set in the environment always win; an empty value
in the file counts as not set (as in `Settings`), so copying `.env.example` unchanged changes
nothing. Values are taken literally (no `${VAR}` expansion), so a secret containing `$` survives.
A line that cannot be read is skipped with one sentence on stderr naming its line number, never
its content: values may be secrets.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import TextIO

from dotenv.parser import parse_stream

ENV_FILE = ".env"


def _first_line(text: str, line: int) -> int:
    """python-dotenv numbers a statement from the blank lines before it; skip those."""
    leading = text[: len(text) - len(text.lstrip())]
    return line + leading.count("\n") + (leading.count("\r") - leading.count("\r\n"))


def read_env_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """The NAME=value pairs of `path` (empty values left out) and one sentence per bad line."""
    values: dict[str, str] = {}
    problems: list[str] = []
    try:
        with path.open(encoding="utf-8-sig") as stream:
            bindings = list(parse_stream(stream))
    except UnicodeDecodeError:
        return {}, [f"{path.name} is not UTF-8 text, so none of it was read."]
    for binding in bindings:
        line = _first_line(binding.original.string, binding.original.line)
        if binding.error:
            problems.append(
                f"{path.name} line {line} is not NAME=value and was skipped "
                "(check its quotes and spaces)."
            )
        elif binding.key is not None and binding.value is None:
            problems.append(f"{path.name} line {line} has a name but no '=' and was skipped.")
        elif binding.key is not None and binding.value:
            values[binding.key] = binding.value
    return values, problems


def load_env_file(
    path: Path | None = None,
    environ: MutableMapping[str, str] | None = None,
    errors: TextIO | None = None,
) -> list[str]:
    """Copy `path` (default `./.env`) into `environ` (default `os.environ`) without overriding
    anything already set. Returns the names it set; a missing file sets nothing."""
    path = Path.cwd() / ENV_FILE if path is None else path
    environ = os.environ if environ is None else environ
    if not path.is_file():
        return []
    values, problems = read_env_file(path)
    for problem in problems:
        print(problem, file=errors or sys.stderr)
    loaded = [name for name in values if name not in environ]
    for name in loaded:
        environ[name] = values[name]
    return loaded
