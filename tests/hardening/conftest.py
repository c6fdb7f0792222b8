"""Markers for the hardening tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cases(n): the fuzz test must run at least n cases")
