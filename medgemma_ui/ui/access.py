"""Access control: Gradio login with hashed passwords, or Hugging Face OAuth limited to orgs.

Passwords are never stored in clear: `MEDGEMMA_AUTH_USERS` holds `user:pbkdf2_sha256$N$salt$hash`
entries separated by commas (medgemma_ui/passwords.py); `python -m medgemma_ui hash-password`
prints one.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from medgemma_ui.passwords import ALGORITHM, hash_password, verify_password

log = logging.getLogger(__name__)


class AccessConfigError(ValueError):
    """MEDGEMMA_AUTH_USERS is malformed; the message says how to fix it."""


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
        users[user] = encoded
    return users


def make_auth(spec: str) -> Callable[[str, str], bool] | None:
    """A Gradio `auth` callable, or None when no users are configured (open access)."""
    users = parse_auth_users(spec)
    if not users:
        return None

    def check(username: str, password: str) -> bool:
        encoded = users.get(username)
        # Hash even for unknown users so timing does not reveal which names exist.
        ok = verify_password(password, encoded or hash_password("", salt="unknown-user"))
        if not ok:
            log.info("login refused")
        return ok and encoded is not None

    return check


class OrgGate:
    """Allows a Hugging Face OAuth user only when they belong to one of `orgs`.

    Membership comes from `whoami(token)` (huggingface_hub), cached per token for `ttl_s` so a busy
    session does not call the Hub on every click.
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
        self._cache: dict[str, tuple[float, bool]] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.orgs)

    def allowed(self, token: str | None) -> bool:
        if not self.enabled:
            return True
        if not token:
            return False
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._cache.get(key)
        if cached and time.monotonic() - cached[0] < self._ttl_s:
            return cached[1]
        try:
            info = self._whoami(token)
        except Exception as exc:
            log.warning("could not check organisation membership: %s", type(exc).__name__)
            return False
        names = {str(org.get("name", "")).lower() for org in info.get("orgs") or []}
        ok = bool(names & set(self.orgs))
        self._cache[key] = (time.monotonic(), ok)
        return ok

    def refusal(self) -> str:
        return (
            "Sign in with a Hugging Face account that belongs to "
            + " or ".join(self.orgs)
            + " to use this app."
        )


def _hub_whoami(token: str) -> dict[str, Any]:
    from huggingface_hub import whoami

    return dict(whoami(token=token))
