"""The backend interface and the loop every backend shares: timeouts, retries, progress, timings.

A provider module implements `_attempt(request, structured)`: one try, yielding `TextDelta`s and
ending with an `AttemptEnd`, raising `BackendError` on failure. `Backend.stream()` wraps it with the
first-token and total timeouts, retries what is retryable before any text was shown (a waking
endpoint up to `wake_wait_s`, everything else up to `max_retries`), reports each wait as a
`StatusUpdate`, and ends with exactly one `Completion`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator
from typing import cast

from medgemma_ui.backends.errors import BackendError
from medgemma_ui.backends.types import (
    AttemptEnd,
    BackendStatus,
    Completion,
    Event,
    GenerationRequest,
    StatusUpdate,
    TextDelta,
)
from medgemma_ui.redaction import redact
from medgemma_ui.settings import BackendSettings

log = logging.getLogger("medgemma_ui.backends")

# A sleeping endpoint is asked again at least this often while it wakes.
WAKE_POLL_MAX_S = 5.0


class Backend(ABC):
    """One place MedGemma runs. Subclasses set the class attributes and implement `_attempt`."""

    name: str = ""
    label: str = ""
    how_to_configure: str = ""
    supports_structured_output: bool = False

    def __init__(
        self,
        settings: BackendSettings,
        *,
        backoff_base_s: float = 2.0,
        backoff_max_s: float = 15.0,
    ) -> None:
        self.settings = settings
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s

    @property
    @abstractmethod
    def configured(self) -> bool: ...

    @property
    @abstractmethod
    def model(self) -> str: ...

    @property
    def _secrets(self) -> tuple[str, ...]:
        return ()

    @abstractmethod
    async def health(self) -> BackendStatus: ...

    @abstractmethod
    def _attempt(
        self, request: GenerationRequest, structured: bool
    ) -> AsyncIterator[TextDelta | StatusUpdate | AttemptEnd]: ...

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the backend may be used again afterwards."""

    def not_configured_error(self) -> BackendError:
        return BackendError(
            "not_configured",
            f"The {self.label} is not configured; {self.how_to_configure}",
            retryable=False,
        )

    def _use_schema(self, request: GenerationRequest) -> bool:
        return bool(
            request.json_schema is not None
            and self.supports_structured_output
            and self.settings.structured_output
        )

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_max_s, self.backoff_base_s * (2**attempt))

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Event]:
        """Yield `TextDelta` and `StatusUpdate` events, then exactly one `Completion`."""
        if not self.configured:
            raise self.not_configured_error()
        structured = self._use_schema(request)
        settings = self.settings
        started = time.monotonic()
        waited = 0.0
        retries = 0
        wake_tries = 0
        while True:
            attempt_started = time.monotonic()
            deadline = attempt_started + settings.total_timeout_s
            parts: list[str] = []
            first_token_at: float | None = None
            finish = AttemptEnd()
            # Every `_attempt` is an async generator, so it can be closed.
            events = cast(
                "AsyncGenerator[TextDelta | StatusUpdate | AttemptEnd, None]",
                self._attempt(request, structured),
            )
            try:
                while True:
                    now = time.monotonic()
                    budget = deadline - now
                    if first_token_at is None:
                        budget = min(budget, attempt_started + settings.first_token_timeout_s - now)
                    try:
                        async with asyncio.timeout(max(budget, 0.0)):
                            event = await anext(events)
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        raise self._timeout_error(first_token_at is None) from None
                    if isinstance(event, AttemptEnd):
                        finish = event
                    elif isinstance(event, TextDelta):
                        if not event.text:
                            continue
                        if first_token_at is None:
                            first_token_at = time.monotonic()
                        parts.append(event.text)
                        yield event
                    else:
                        yield event
            except BackendError as error:
                log.warning(
                    "%s attempt failed: kind=%s status=%s detail=%s",
                    self.name,
                    error.kind,
                    error.status,
                    redact(error.detail, self._secrets),
                )
                wait = self._retry_wait(error, bool(parts), waited, retries, wake_tries)
                if wait is None:
                    raise
                if error.kind == "waking":
                    wake_tries += 1
                else:
                    retries += 1
                yield self._wait_status(error, wait, waited)
                await asyncio.sleep(wait)
                waited += wait
                continue
            finally:
                # Closing the attempt closes its HTTP response, also on cancellation.
                await events.aclose()
            now = time.monotonic()
            timings = {
                "total": round((now - started) * 1000, 1),
                "generation": round((now - attempt_started) * 1000, 1),
                "waited": round(waited * 1000, 1),
            }
            if first_token_at is not None:
                timings["first_token"] = round((first_token_at - started) * 1000, 1)
            yield Completion(
                text="".join(parts),
                finish_reason=finish.finish_reason,
                usage=finish.usage,
                model=finish.model or self.model,
                timings_ms=timings,
                structured_output=structured,
            )
            return

    def _retry_wait(
        self, error: BackendError, shown_text: bool, waited: float, retries: int, wake_tries: int
    ) -> float | None:
        if shown_text or not error.retryable:
            return None
        if error.kind == "waking":
            remaining = self.settings.wake_wait_s - waited
            if remaining <= 0:
                return None
            # Poll often: a woken endpoint should be used within seconds, not a backoff later.
            return min(self._backoff(wake_tries), WAKE_POLL_MAX_S, remaining)
        if retries >= self.settings.max_retries:
            return None
        if error.retry_after_s is not None:
            return min(error.retry_after_s, max(60.0, self.backoff_max_s))
        return self._backoff(retries)

    def _wait_status(self, error: BackendError, wait: float, waited: float) -> StatusUpdate:
        if error.kind == "waking":
            return StatusUpdate(
                f"The endpoint is waking up (scaled to zero); retrying in {wait:.0f} s, "
                f"waited {waited:.0f} s of {self.settings.wake_wait_s:.0f} s.",
                "waking",
            )
        if error.kind == "rate_limited":
            return StatusUpdate(
                f"The {self.label} is rate-limiting requests; retrying in {wait:.0f} s.",
                "rate_limited",
            )
        return StatusUpdate(
            f"The {self.label} is temporarily unavailable; retrying in {wait:.0f} s.",
            "retrying",
        )

    def _timeout_error(self, before_first_token: bool) -> BackendError:
        if before_first_token:
            return BackendError(
                "timeout",
                f"The {self.label} sent nothing within "
                f"{self.settings.first_token_timeout_s:.0f} s; try again or pick another backend.",
                detail="first token timeout",
                retryable=False,
            )
        return BackendError(
            "timeout",
            f"The {self.label} did not finish within {self.settings.total_timeout_s:.0f} s; "
            "try fewer max tokens.",
            detail="total timeout",
            retryable=False,
        )
