"""Access control: Gradio login with hashed passwords, or Hugging Face OAuth limited to orgs;
who the caller is (for fair sharing and for ratings); the admin right, checked on every call.

Passwords are never stored in clear: `MEDGEMMA_AUTH_USERS` holds `user:pbkdf2_sha256$N$salt$hash`
entries separated by commas (medgemma_ui/passwords.py); `python -m medgemma_ui hash-password`
prints one.

Logins (README, *Access control*):
- the hash runs in a worker thread (`HASHER`, one thread per core but one), never on the event
  loop, so a flood of logins cannot stall the pages of users already signed in;
- an unknown name costs exactly what a known one does (one hash of the usual iteration count);
- after `LoginGuard.free` failures, per user name and per client address, each further attempt
  waits twice as long as the last (2 s, 4 s, ... up to 15 min), with a sentence saying when to
  try again (`ui/middleware.py` applies it to `/login`; `require_admin` to the admin password).

Names other modules use: `owner_key` / `Caller` / `CALLER` (whose image jobs these are, for
`PreparePool`), `require_admin` (the review, export and any admin event), `login_name`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import secrets
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from medgemma_ui.passwords import (
    ALGORITHM,
    MIN_ITERATIONS,
    hash_password,
    iterations_of,
    verify_password,
)
from medgemma_ui.settings import usable_cpus

if TYPE_CHECKING:
    from medgemma_ui.ui.services import Services

log = logging.getLogger(__name__)

# Password hashing off the event loop, on at most all cores but one: a login flood then leaves
# a core for everyone else.
HASHER = ThreadPoolExecutor(max_workers=max(1, usable_cpus() - 1), thread_name_prefix="login-hash")
ANONYMOUS = "anonymous"  # the same key as imaging.workers.ANONYMOUS


class AccessConfigError(ValueError):
    """MEDGEMMA_AUTH_USERS (or the OAuth set-up) is unusable; the message says how to fix it."""


class AccessRefused(Exception):
    """A caller without the right to do this; `str()` is the sentence they see."""


def parse_auth_users(spec: str) -> dict[str, str]:
    """`alice:pbkdf2_sha256$...,bob:pbkdf2_sha256$...` → {user: encoded hash}."""
    users: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        user, sep, encoded = entry.partition(":")
        if not sep or not user or not encoded.startswith(ALGORITHM + "$"):
            raise AccessConfigError(
                "MEDGEMMA_AUTH_USERS must be user:hash pairs separated by commas, each hash made "
                "with `python -m medgemma_ui hash-password`."
            )
        rounds = iterations_of(encoded)
        if rounds is None or rounds < MIN_ITERATIONS:
            raise AccessConfigError(
                f"MEDGEMMA_AUTH_USERS has a hash for {user!r} with {rounds or 'no'} iterations, "
                f"under the minimum of {MIN_ITERATIONS:,}; make it again with "
                "`python -m medgemma_ui hash-password`."
            )
        users[user] = encoded
    return users


def make_auth(spec: str) -> Callable[[str, str], Awaitable[bool]] | None:
    """A Gradio `auth` callable (a coroutine function, which Gradio awaits), or None when no
    users are configured (open access). Unknown names are checked against a decoy hash with the
    iteration count most users have, so both cost one hash of the same length."""
    users = parse_auth_users(spec)
    if not users:
        return None
    usual = Counter(iterations_of(encoded) for encoded in users.values()).most_common(1)[0][0]
    decoy = hash_password(secrets.token_urlsafe(16), iterations=usual or MIN_ITERATIONS)

    async def check(username: str, password: str) -> bool:
        encoded = users.get(username)
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(HASHER, verify_password, password, encoded or decoy)
        if not ok:
            log.info("login refused")
        return ok and encoded is not None

    return check


# --- backoff -------------------------------------------------------------------------------


@dataclass
class _Failures:
    count: int = 0
    until: float = 0.0  # no attempt before this (monotonic clock)
    last: float = 0.0


class LoginGuard:
    """Exponential backoff per key (a user name, a client address): `free` failures are free,
    then each failure makes the next attempt wait `base_s` × 2^(failures - free), at most
    `cap_s`. A key is forgotten `forget_s` after its last failure; at most `max_keys` are kept
    (the oldest go first). Attempts while waiting are refused without being checked or
    counted. Thread-safe."""

    def __init__(
        self,
        *,
        free: int = 5,
        base_s: float = 2.0,
        cap_s: float = 900.0,
        forget_s: float = 3600.0,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free, self.base_s, self.cap_s, self.forget_s = free, base_s, cap_s, forget_s
        self.max_keys = max_keys
        self._clock = clock
        self._keys: OrderedDict[str, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def wait_s(self, *keys: str) -> float:
        """Seconds until these keys may try again (0: now)."""
        now = self._clock()
        with self._lock:
            waits = [
                entry.until - now
                for key in keys
                if (entry := self._keys.get(key)) is not None and now - entry.last < self.forget_s
            ]
        return max([0.0, *waits])

    def failed(self, *keys: str) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                entry = self._keys.pop(key, None)
                if entry is None or now - entry.last >= self.forget_s:
                    entry = _Failures()
                entry.count += 1
                entry.last = now
                if entry.count >= self.free:
                    delay = self.base_s * 2 ** (entry.count - self.free)
                    entry.until = now + min(self.cap_s, delay)
                self._keys[key] = entry
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._keys.pop(key, None)

    @staticmethod
    def refusal(wait_s: float, what: str = "sign-in") -> str:
        seconds = math.ceil(wait_s)
        when = time.strftime("%H:%M:%S", time.localtime(time.time() + seconds))
        span = f"{seconds} s" if seconds < 120 else f"{math.ceil(seconds / 60)} minutes"
        return (
            f"Too many failed {what} attempts for this name or from this address; try again in "
            f"{span} (after {when})."
        )


def name_key(name: str) -> str:
    return "name:" + name


def address_key(address: str) -> str:
    return "address:" + address


def client_address(
    client: tuple[str, int] | None, headers: dict[str, str], *, behind_proxy: bool
) -> str:
    """The caller's address: the connection's, or behind a proxy we trust (a Space's), the last
    `X-Forwarded-For` entry, the one that proxy added (earlier ones are the client's word)."""
    if behind_proxy:
        forwarded = [a.strip() for a in headers.get("x-forwarded-for", "").split(",") if a.strip()]
        if forwarded:
            return forwarded[-1]
    return client[0] if client else "unknown"


# --- OAuth organisations -------------------------------------------------------------------


class OrgGate:
    """Allows a Hugging Face OAuth user only when they belong to one of `orgs`.

    Membership and the user name come from `whoami(token)` (huggingface_hub), cached per token
    for `ttl_s` so a busy session does not call the Hub on every click.
    """

    def __init__(
        self,
        orgs: tuple[str, ...],
        whoami: Callable[[str], dict[str, Any]] | None = None,
        ttl_s: float = 300.0,
    ) -> None:
        self.orgs = tuple(o.lower() for o in orgs)
        self._whoami = whoami or _hub_whoami
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[float, str | None]] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.orgs)

    def member(self, token: str | None) -> str | None:
        """The Hub user name of `token`'s owner when they belong to one of the orgs, else None."""
        if not token:
            return None
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._cache.get(key)
        if cached and time.monotonic() - cached[0] < self._ttl_s:
            return cached[1]
        try:
            info = self._whoami(token)
        except Exception as exc:
            log.warning("could not check organisation membership: %s", type(exc).__name__)
            return None
        names = {str(org.get("name", "")).lower() for org in info.get("orgs") or []}
        name = (str(info.get("name") or "") or None) if names & set(self.orgs) else None
        self._cache[key] = (time.monotonic(), name)
        return name

    def allowed(self, token: str | None) -> bool:
        return not self.enabled or self.member(token) is not None

    def refusal(self) -> str:
        return (
            "Sign in with a Hugging Face account that belongs to "
            + " or ".join(self.orgs)
            + " to use this app."
        )


def _hub_whoami(token: str) -> dict[str, Any]:
    from huggingface_hub import whoami

    return dict(whoami(token=token))


# --- who is calling ------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who an event runs for: `login` (the password login or the Hugging Face user name; None
    without logins) and `owner`, the key their image jobs share (`owner_key`)."""

    login: str | None
    owner: str


# The caller of the event being handled, for code below the handler that has no request (the
# analysis pipeline's preparer, `Services.prepare`). Set around each step of the event.
CALLER: ContextVar[Caller | None] = ContextVar("medgemma_caller", default=None)


def current_login() -> str | None:
    """The login of the event being handled (`Services.acting_for`); None without one."""
    who = CALLER.get()
    return who.login if who else None


def login_name(request: Any, oauth_login: str | None = None) -> str | None:
    """The password login (`gr.Request.username`), or the Hugging Face user name that passed
    the organisation gate; None when neither is on."""
    return getattr(request, "username", None) or oauth_login or None


def owner_key(request: Any, login: str | None = None) -> str:
    """`login:<name>` when there is a login (all of a person's tabs share it), else
    `session:<hash>` (one browser page or API client), else `ANONYMOUS`."""
    login = login or login_name(request)
    if login:
        return f"login:{login}"
    session = getattr(request, "session_hash", None)
    return f"session:{session}" if session else ANONYMOUS


def caller(request: Any, oauth_login: str | None = None) -> Caller:
    login = login_name(request, oauth_login)
    return Caller(login=login, owner=owner_key(request, login))


# --- the admin right -----------------------------------------------------------------------

NO_ADMIN = (
    "Reviewing and exporting ratings is for the session organisers, and none is set up on this "
    "server; ask the person who runs it (README, Feedback sessions)."
)
NOT_ADMIN = "Reviewing and exporting ratings is for the session organisers; {who} is not one."


def require_admin(
    services: Services,
    request: Any,
    password: str | None = None,
    oauth_token: Any = None,
) -> str | None:
    """Call first in every admin event (review, export, dashboards), whatever the page shows:
    raises `gr.Error` with one sentence unless the caller has the admin right, and returns
    their login (None without logins).

    The right: a login listed in `MEDGEMMA_ADMIN_USERS`, or the admin password
    (`MEDGEMMA_ADMIN_PASSWORD`, under the same backoff as logins, per client address). With
    neither set, only an app without logins is open to everyone (one person's own machine)."""
    import gradio as gr

    oauth_login = services.require_access(oauth_token)
    login = login_name(request, oauth_login)
    server, expected = services.settings.server, services.settings.feedback.admin_password
    if login and login in server.admin_users:
        return login
    if expected:
        guard = services.login_guard
        address = client_address(_client(request), _headers(request), behind_proxy=server.on_spaces)
        # Per client address, and per login when there is one (not one key for everyone: a
        # stranger's guesses would lock the organisers out).
        keys = [address_key("admin:" + address)]
        if login:
            keys.append(name_key("admin:" + login))
        wait = guard.wait_s(*keys)
        if wait > 0:
            raise gr.Error(guard.refusal(wait, "admin password"), print_exception=False)
        if hmac.compare_digest((password or "").encode(), expected.encode()):
            guard.succeeded(*keys[1:])
            return login
        guard.failed(*keys)
        log.info("admin password refused")
        raise gr.Error("That admin password is not right.", print_exception=False)
    if server.admin_users:
        raise gr.Error(NOT_ADMIN.format(who=login or "this visitor"), print_exception=False)
    if login or server.auth_users or services.org_gate.enabled:
        raise gr.Error(NO_ADMIN, print_exception=False)
    return None


def _client(request: Any) -> tuple[str, int] | None:
    client = getattr(request, "client", None)
    host = getattr(client, "host", None)
    return (str(host), int(getattr(client, "port", 0) or 0)) if host else None


def _headers(request: Any) -> dict[str, str]:
    try:
        return {str(k).lower(): str(v) for k, v in dict(getattr(request, "headers", {})).items()}
    except (TypeError, ValueError):
        return {}
