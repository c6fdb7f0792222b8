"""Which backends exist: every module of `medgemma_ui.backends.providers` that defines `BACKEND`.

A provider module declares everything about its backend in one file (see `Backend` for the
class attributes and `config.setting` for its settings) and ends with `BACKEND = TheClass`.
Adding a backend is adding such a file: the settings, the registry, the menu, the start-up
warning and the CLI's help all come from here. Provider modules import nothing heavy at module
level, so discovering them is cheap; each checks its own declaration here once.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import cache
from typing import TYPE_CHECKING

from medgemma_ui.backends.config import ProviderConfig, settings_of

if TYPE_CHECKING:
    from medgemma_ui.backends.base import Backend

PACKAGE = "medgemma_ui.backends.providers"
_NAME = re.compile(r"[a-z][a-z0-9-]*")


@cache
def backend_classes() -> tuple[type[Backend], ...]:
    """Every provider's Backend class, in menu order (`order`, then name)."""
    from medgemma_ui.backends.base import Backend

    package = importlib.import_module(PACKAGE)
    found: dict[str, type[Backend]] = {}
    config_types: set[type[ProviderConfig]] = set()
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module_name = f"{PACKAGE}.{info.name}"
        backend = getattr(importlib.import_module(module_name), "BACKEND", None)
        if not (isinstance(backend, type) and issubclass(backend, Backend)):
            raise TypeError(f"{module_name} must set BACKEND to its Backend subclass")
        problem = _declaration_problem(backend)
        if problem:
            raise TypeError(f"{module_name}: {problem}")
        if backend.name in found:
            raise TypeError(f"{module_name}: a backend called {backend.name!r} exists already")
        if backend.config_type in config_types:
            raise TypeError(f"{module_name}: {backend.config_type.__name__} is used twice")
        found[backend.name] = backend
        config_types.add(backend.config_type)
    return tuple(sorted(found.values(), key=lambda b: (b.order, b.name)))


def _declaration_problem(backend: type[Backend]) -> str:
    if not _NAME.fullmatch(backend.name):
        return f"name {backend.name!r} must be lowercase letters, digits and dashes"
    if not backend.label:
        return "label is empty"
    config_type = backend.config_type
    if not (isinstance(config_type, type) and issubclass(config_type, ProviderConfig)):
        return "config_type must be a ProviderConfig subclass"
    try:
        settings_of(config_type)
    except TypeError as error:  # a field not made with setting(), or not a frozen dataclass
        return str(error)
    return ""


def backend_class(name: str) -> type[Backend] | None:
    """The Backend class declared for `name`, if any."""
    return next((p for p in backend_classes() if p.name == name), None)


def backend_names() -> tuple[str, ...]:
    """Every backend's name, in menu order."""
    return tuple(p.name for p in backend_classes())


def backend_help() -> dict[str, str]:
    """One line of help per backend name, for operators (it names the variables to set)."""
    return {p.name: p.help_line() for p in backend_classes()}
