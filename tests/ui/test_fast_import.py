"""Gradio imported without its stub regeneration: still the whole of Gradio, in half the time."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_ui_package_imports_gradio_without_regenerating_stubs():
    out = _run(
        """
        import sys
        assert "gradio" not in sys.modules
        import medgemma_ui.ui
        import gradio as gr
        import gradio.component_meta as meta
        from medgemma_ui.ui.fast_import import stubs_skipped

        # If Gradio renamed the function, this fails: the speed-up would be silently lost.
        print(stubs_skipped(), meta.create_or_modify_pyi.__name__)
        # Components are whole: events, config, pre/postprocessing.
        box = gr.Textbox(label="x")
        print(callable(box.change), box.get_config()["label"], box.postprocess("a"))
        """
    )
    assert out.split() == ["True", "_no_stub", "True", "x", "a"]


def test_gradio_imported_first_is_left_alone():
    out = _run(
        """
        import gradio
        from medgemma_ui.ui.fast_import import skip_stub_generation, stubs_skipped
        skip_stub_generation()
        import medgemma_ui.ui
        print(stubs_skipped())
        """
    )
    assert out.split() == ["False"]
