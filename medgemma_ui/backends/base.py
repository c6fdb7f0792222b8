"""The backend interface, its declarations, and the loop every backend shares.

A provider module (one file in `medgemma_ui.backends.providers`) defines one subclass,
`class TheBackend(Backend[TheConfig])`, where `TheConfig` is its settings (see `config.setting`;
it becomes `config_type`), with:

- declarations, as class attributes read without creating a backend: `name`, `label`, `order`,
  `supports_structured_output`, and optionally `setup_note` and `preselected`. What
  "configured" means and the operator's sentences (`how_to_configure`, `settings_hint`,
  `help_line`) are generated from them;
- `_attempt(request, structured)`: one try, yielding `TextDelta`s and ending with an
  `AttemptEnd`, raising `BackendError` on failure; plus `model` and `health()`.

`Backend.stream()` wraps `_attempt` with the first-token and total timeouts, retries what is
retryable before any text was shown (a waking endpoint up to `wake_wait_s`, everything else up to
`max_retries`), reports each wait as a `StatusUpdate`, and ends with exactly one `Completion`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, ClassVar, Generic, cast, get_args, get_origin

from medgemma_ui.backends.config import ConfigT, ProviderConfig, Setting, settings_of
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

if TYPE_CHECKING:
    from medgemma_ui.backends.settings import BackendSettings

log = logging.getLogger("medgemma_ui.backends")

# A sleeping endpoint is asked again at least this often while it wakes.
WAKE_POLL_MAX_S = 5.0


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


class Backend(ABC, Generic[ConfigT]):
    """One place MedGemma runs. Subclasses declare the class attributes and implement
    `model`, `health` and `_attempt`; `self.config` is their own settings."""

    # The id used by MEDGEMMA_DEFAULT_BACKEND, the CLI's --backend and feedback records.
    name: ClassVar[str] = ""
    # What clinicians see in the menu and in messages ("The {label} is rate-limiting ...").
    label: ClassVar[str] = ""
    # Menu position, smallest first.
    order: ClassVar[int] = 0
    # The provider's settings dataclass, taken from `Backend[TheConfig]`; its required settings
    # decide "configured".
    config_type: ClassVar[type[ProviderConfig]] = ProviderConfig
    # Whether it can constrain decoding to a JSON schema.
    supports_structured_output: ClassVar[bool] = False
    # Anything else an operator must do besides the settings (ends the "not configured" sentence).
    setup_note: ClassVar[str] = ""
    # The menu's choice while no backend is configured (the easiest to set up); else the first.
    preselected: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        declared = [
            arg
            for base in getattr(cls, "__orig_bases__", ())
            if get_origin(base) is Backend
            for arg in get_args(base)
            if isinstance(arg, type) and issubclass(arg, ProviderConfig)
        ]
        if not declared:
            return
        if "config_type" in cls.__dict__ and cls.config_type is not declared[0]:
            raise TypeError(
                f"{cls.__name__} is Backend[{declared[0].__name__}] but sets config_type = "
                f"{cls.config_type.__name__}; say it once, in the brackets."
            )
        cls.config_type = declared[0]

    def __init__(
        self,
        settings: BackendSettings,
        *,
        backoff_base_s: float = 2.0,
        backoff_max_s: float = 15.0,
    ) -> None:
        self.settings = settings
        self.config: ConfigT = cast("ConfigT", settings.config(self.config_type))
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s

    @classmethod
    def declared_settings(cls) -> tuple[Setting, ...]:
        return settings_of(cls.config_type)

    @classmethod
    def is_configured(cls, config: ProviderConfig) -> bool:
        """Every required setting is non-empty (no imports, no network)."""
        return all(getattr(config, s.field) for s in cls.declared_settings() if s.required)

    @classmethod
    def how_to_configure(cls) -> str:
        """For operators: what to set, e.g. "set MEDGEMMA_X_URL (the address); optionally ..."."""
        required = [f"{s.env} ({s.help})" for s in cls.declared_settings() if s.required]
        optional = [s.env for s in cls.declared_settings() if not s.required]
        parts = []
        if required:
            parts.append(f"set {_and(required)}")
        if optional:
            parts.append(f"optionally {', '.join(optional)}")
        if cls.setup_note:
            parts.append(cls.setup_note)
        return "; ".join(parts) + "."

    @classmethod
    def settings_hint(cls) -> str:
        """Every variable of this backend, "A, B and C": what to check after a refusal."""
        return _and([s.env for s in cls.declared_settings()])

    @classmethod
    def help_line(cls) -> str:
        """One line for the CLI's help: the label and the variables that make it configured."""
        required = [s.env for s in cls.declared_settings() if s.required]
        return f"{cls.label} (set {_and(required)})" if required else cls.label

    @property
    def configured(self) -> bool:
        return self.is_configured(self.config)

    @property
    @abstractmethod
    def model(self) -> str: ...

    @property
    def _secrets(self) -> tuple[str, ...]:
        """Values to remove verbatim from logged details: the config's secret settings."""
        return tuple(
            value
            for s in self.declared_settings()
            if s.secret and isinstance(value := getattr(self.config, s.field), str) and value
        )

    @abstractmethod
    async def health(self) -> BackendStatus: ...

    @abstractmethod
    def _attempt(
        self, request: GenerationRequest, structured: bool
    ) -> AsyncIterator[TextDelta | StatusUpdate | AttemptEnd]: ...

    async def aclose(self) -> None:
        """Release connections; the backend may be used again afterwards."""

    def not_configured_status(self) -> BackendStatus:
        return BackendStatus("not configured", self.how_to_configure(), self.model)

    def not_configured_error(self) -> BackendError:
        return BackendError(
            "not_configured",
            f"The {self.label} is not configured; {self.how_to_configure()}",
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
