"""Start the app: .env -> settings -> build_demo() -> launch(). Also the Hugging Face Spaces entry
point."""

import os

if __name__ == "__main__":
    # `.env` from the working directory first, without overriding the environment (python-dotenv).
    from medgemma_ui.dotenv_loader import load_env_file

    load_env_file()

# Privacy defaults before gradio is imported: no analytics, no telemetry.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

if __name__ == "__main__":
    # Imported here, not above: image worker processes re-import this file as `__mp_main__`,
    # and must not pay for gradio.
    from medgemma_ui.fast_import import skip_stub_generation

    skip_stub_generation()  # before gradio is imported: halves the import
    from medgemma_ui.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as exc:  # one sentence naming the variable, not a traceback
        raise SystemExit(str(exc)) from None
    from medgemma_ui.ui.server import serve

    serve(settings)
