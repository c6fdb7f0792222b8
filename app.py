"""Start the app: settings -> build_demo() -> launch(). Also the Hugging Face Spaces entry point."""

import os

# Privacy defaults before gradio is imported: no analytics, no telemetry.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

if __name__ == "__main__":
    # Imported here, not above: image worker processes re-import this file as `__mp_main__`,
    # and must not pay for gradio.
    from medgemma_ui.settings import Settings
    from medgemma_ui.ui.server import serve

    serve(Settings.from_env())
