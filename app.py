"""Start the app: settings -> build_demo() -> launch(). Also the Hugging Face Spaces entry point."""

import os

# Privacy defaults before gradio is imported: no analytics, no telemetry.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from medgemma_ui.settings import Settings
from medgemma_ui.ui.server import serve

if __name__ == "__main__":
    serve(Settings.from_env())
