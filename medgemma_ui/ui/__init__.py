"""Gradio Blocks UI: layout components, thin async handlers, and the builder that wires them."""

from medgemma_ui.ui.fast_import import skip_stub_generation

skip_stub_generation()  # before anything below imports gradio: halves the import

from medgemma_ui.ui.builder import build_demo, launch_options  # noqa: E402
from medgemma_ui.ui.services import Services, create_services  # noqa: E402

__all__ = ["Services", "build_demo", "create_services", "launch_options"]
