"""UI pieces. Each module has `render(...) -> dict[str, Component]` (layout only) and, where it
owns events, `listen(refs, services)` that wires them to handlers in `medgemma_ui.ui.handlers`."""
