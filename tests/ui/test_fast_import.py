"""Gradio imported without its stub regeneration: still the whole of Gradio, in half the time.

The entry points apply it (`python app.py`, `python -m medgemma_ui serve`); importing the UI
package does not."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Stands in for medgemma_ui.ui.server: imports the real UI package (and so gradio) the way the
# server does, then reports whether the stubs were skipped, instead of serving.
_FAKE_SERVER = """
import sys, types

server = types.ModuleType("medgemma_ui.ui.server")

def serve(settings):
    import medgemma_ui.ui
    import gradio.component_meta
    from medgemma_ui.fast_import import stubs_skipped

    print("skipped", stubs_skipped())

server.serve = serve
sys.modules[server.__name__] = server
assert "gradio" not in sys.modules
"""


def _run(code: str, cwd: Path = ROOT) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDGEMMA_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_python_app_py_imports_gradio_without_regenerating_stubs(tmp_path):
    app = ROOT / "app.py"
    out = _run(
        _FAKE_SERVER + f"import runpy; runpy.run_path({str(app)!r}, run_name='__main__')", tmp_path
    )
    assert out.split() == ["skipped", "True"]


def test_serve_imports_gradio_without_regenerating_stubs(tmp_path):
    out = _run(_FAKE_SERVER + "from medgemma_ui.__main__ import main; main(['serve'])", tmp_path)
    assert out.split() == ["skipped", "True"]


def test_importing_the_ui_package_patches_nothing():
    out = _run(
        """
        import sys
        import medgemma_ui.ui
        from medgemma_ui.fast_import import _SkipStubs, stubs_skipped

        print(stubs_skipped(), any(isinstance(f, _SkipStubs) for f in sys.meta_path))
        """
    )
    assert out.split() == ["False", "False"]


def test_the_skipped_stubs_leave_gradio_whole():
    out = _run(
        """
        import sys
        from medgemma_ui.fast_import import skip_stub_generation, stubs_skipped

        assert "gradio" not in sys.modules
        skip_stub_generation()
        import gradio as gr
        import gradio.component_meta as meta

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
        from medgemma_ui.fast_import import skip_stub_generation, stubs_skipped

        skip_stub_generation()
        import medgemma_ui.ui
        print(stubs_skipped())
        """
    )
    assert out.split() == ["False"]


def test_the_test_session_applies_it_too():
    import gradio  # noqa: F401

    from medgemma_ui.fast_import import stubs_skipped

    assert stubs_skipped(), "tests/conftest.py calls skip_stub_generation() before gradio loads"
