"""Playwright drives Debian's chromium (never `playwright install`). Missing chromium is a failure,
not a skip: `make test` installs it with apt first."""

from __future__ import annotations

import shutil

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: run `bash scripts/ensure-chromium.sh`.")
    return {**browser_type_launch_args, "executable_path": executable, "args": CHROMIUM_ARGS}
