"""UI pieces. Each module has `render(...) -> dict[str, Component]` (layout only) and, where it
owns events, `listen(refs, services)` that wires them to handlers in `medgemma_ui.ui.handlers`.
`figures` holds the hidden tables and charts the review tab's two modules share."""
