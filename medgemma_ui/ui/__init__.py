"""Gradio Blocks UI: layout components, thin async handlers, and the builder that wires them."""

from medgemma_ui.ui.builder import build_demo, launch_options
from medgemma_ui.ui.services import Services, create_services

__all__ = ["Services", "build_demo", "create_services", "launch_options"]
