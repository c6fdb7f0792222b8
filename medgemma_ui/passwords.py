"""Salted password hashes for the login (`MEDGEMMA_AUTH_USERS`): `pbkdf2_sha256$N$salt$hash`.

Standard library only, so `python -m medgemma_ui hash-password` prints one without importing the
UI (and gradio); `ui/access.py` checks logins against them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 200_000
# A stored hash with fewer iterations is refused (the app does not start with one): a hash of
# 1 iteration would make a leaked MEDGEMMA_AUTH_USERS as good as the passwords themselves.
MIN_ITERATIONS = 100_000


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: str | None = None) -> str:
    salt = salt or base64.b64encode(secrets.token_bytes(12)).decode("ascii")
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"{ALGORITHM}${iterations}${salt}${base64.b64encode(digest).decode('ascii')}"


def iterations_of(encoded: str) -> int | None:
    """The iteration count of an encoded hash, or None when it is not one."""
    try:
        algorithm, iterations, _salt, _expected = encoded.split("$", 3)
        return int(iterations) if algorithm == ALGORITHM else None
    except ValueError:
        return None


def verify_password(password: str, encoded: str) -> bool:
    try:
        algorithm, iterations, salt, expected = encoded.split("$", 3)
        rounds = int(iterations)
    except ValueError:
        return False
    if algorithm != ALGORITHM or rounds < MIN_ITERATIONS:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), rounds)
    return hmac.compare_digest(base64.b64encode(digest).decode("ascii"), expected)
