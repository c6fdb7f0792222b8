"""Import gradio without regenerating its type stubs.

Gradio's `ComponentMeta` calls `gradio.component_meta.create_or_modify_pyi` for every component
class as it is defined: it re-reads and `ast`-parses the component's source to rewrite the `.pyi`
stub beside it in site-packages, an aid for Gradio's own developers. That is about half of
`import gradio` (2.5 of 5.5 s on a 2-core machine) and it writes into site-packages at run time.
`skip_stub_generation()` replaces that one function with a no-op as its module loads, before any
component class exists. Nothing else in Gradio changes; if Gradio renames or drops the function,
the replacement is simply never called and the import is as slow as before.

The entry points call it (`app.py`, `python -m medgemma_ui serve`, and the test session in
tests/conftest.py); importing `medgemma_ui.ui` patches nothing. It lives outside `ui/` because
importing anything in `ui/` imports gradio.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

_MODULE = "gradio.component_meta"


def _no_stub(*args: object, **kwargs: object) -> None:
    return None


class _SkipStubs(importlib.abc.MetaPathFinder):
    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != _MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        load = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            load(module)
            if hasattr(module, "create_or_modify_pyi"):
                module.__dict__["create_or_modify_pyi"] = _no_stub

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def skip_stub_generation() -> None:
    """Call before gradio is first imported; later calls and calls after the import do nothing."""
    if _MODULE in sys.modules or any(isinstance(f, _SkipStubs) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _SkipStubs())


def stubs_skipped() -> bool:
    """Whether the loaded gradio has the no-op (tests/ui/test_fast_import.py checks the entry
    points with it)."""
    module = sys.modules.get(_MODULE)
    return module is not None and getattr(module, "create_or_modify_pyi", None) is _no_stub
