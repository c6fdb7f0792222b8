"""One module per backend; `medgemma_ui.backends.discovery` finds them all.

Each module declares its backend completely (name, label, menu order, settings, the Backend
class) and ends with `BACKEND = TheClass`. A provider module imports from `medgemma_ui.backends`
(base, config, errors, http, types, and its own helpers such as `google_auth`) but never another
provider module, and imports heavy libraries (httpx, huggingface_hub, google-auth, torch) inside
the functions that use them, so discovering every provider stays cheap.
"""
