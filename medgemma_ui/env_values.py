"""Typed values read from environment variables, and the error a malformed one raises.

Every settings reader (`medgemma_ui.settings`, `medgemma_ui.backends.settings`) reads through
these, so a bad value always fails the same way: a `SettingsError` whose message names the
variable and what it expects. An empty or unset variable means the default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

N = TypeVar("N", int, float)


class SettingsError(ValueError):
    """A configuration value is malformed; the message names the variable and what it expects."""


def read_str(env: Mapping[str, str], name: str, default: str = "") -> str:
    return env.get(name, default).strip()


def read_int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    return _read_number(env, name, default, lo, hi, int, "a whole number")


def read_float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    return _read_number(env, name, default, lo, hi, float, "a number")


def _read_number(
    env: Mapping[str, str],
    name: str,
    default: N,
    lo: N,
    hi: N,
    parse: Callable[[str], N],
    kind: str,
) -> N:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {kind}, got {raw!r}.") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi}, got {value}.")
    return value


def read_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}.")
