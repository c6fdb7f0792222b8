"""Start the web app with the given settings (used by app.py and `python -m medgemma_ui serve`)."""

from __future__ import annotations

import logging
import os
import signal
import threading

from medgemma_ui.backends import backend_classes
from medgemma_ui.settings import Settings

log = logging.getLogger("medgemma_ui")


def no_backend_warning() -> str:
    """For the operator's log: every backend and what to set for it, from their declarations."""
    lines = [f"  {p.name} ({p.label}): {p.how_to_configure()}" for p in backend_classes()]
    return (
        "No backend is configured; the page still starts and says so. To set one up:\n"
        + "\n".join(lines)
    )


def serve(settings: Settings) -> None:
    from medgemma_ui.ui.builder import build_demo, launch_options
    from medgemma_ui.ui.services import create_services

    logging.basicConfig(
        level=os.environ.get("MEDGEMMA_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from medgemma_ui.ui.access import AccessConfigError

    services = create_services(settings)
    registry = services.registry
    if not any(registry.configured(name) for name in registry.names()):
        log.warning("%s", no_backend_warning())
    demo = build_demo(services)
    try:
        options = launch_options(services)
    except AccessConfigError as exc:  # e.g. a weak password hash: one sentence, no traceback
        services.prepare_pool.close()
        raise SystemExit(str(exc)) from None
    _stop_on_sigterm()
    try:
        demo.launch(**options, prevent_thread_lock=True)
        # Workers start once the page answers: their imports would otherwise compete with the
        # server's own start on a small machine (1.5 s later on two cores).
        services.prepare_pool.warm()
        demo.block_thread()
    finally:
        services.prepare_pool.close()


def _stop_on_sigterm() -> None:
    """`docker stop` and Spaces send SIGTERM: close the server and the image workers as Ctrl-C
    does, instead of dying with them still running."""
    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
