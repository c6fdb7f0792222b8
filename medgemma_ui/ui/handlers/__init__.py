"""Thin async handlers: map UI values to calls into `medgemma_ui.analysis` and friends.
No layout here; no per-user state outside the arguments and `gr.State` values passed in."""
