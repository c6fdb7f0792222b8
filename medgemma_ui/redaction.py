"""Secrets taken out of text before it is logged or stored: one `redact` for the whole app.

Two kinds of text pass through it. Log lines and error details from the backends may hold a
token, an API key, a Bearer header echoed by a server, a service-account key or an image as a
data URI. Feedback free text (comments, corrections, the reviewer's name) may hold a token
pasted by mistake: it is redacted rather than refused, because refusing would lose the
clinician's rating, which is the one thing a feedback session must not do. The patterns are
therefore shaped like credentials (digits or symbols in the value, known prefixes, a header or
`key=` before it) so that ordinary words after "basic" or "bearer" are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"

# Applied in order; every replacement contains REDACTED, some keep a prefix saying what it was.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        REDACTED,
    ),
    # A private key inside JSON has escaped newlines; the value may be truncated in a log line.
    (re.compile(r'("private_key(?:_id)?"\s*:\s*")[^"]*("?)'), rf"\1{REDACTED}\2"),
    (re.compile(r"data:[\w.+/-]+;base64,[A-Za-z0-9+/=\s]*"), f"data:{REDACTED}"),
    # Whatever follows an Authorization header's scheme, however short.
    (
        re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?(?:bearer|basic)\s+)[^\s\"',;]+"),
        rf"\1{REDACTED}",
    ),
    # Elsewhere, a Bearer/Basic value with a digit or symbol in it (so "basic views" stays).
    (
        re.compile(r"(?i)\b(bearer|basic)\s+(?=[^\s\"',;]*[\d._~+/=-])[^\s\"',;]+"),
        rf"\1 {REDACTED}",
    ),
    (re.compile(r"\b(hf_)[A-Za-z0-9]{8,}"), rf"\1{REDACTED}"),
    (re.compile(r"\b(ya29[-._])[\w.-]+"), rf"\1{REDACTED}"),
    (re.compile(r"\b(sk[-._])[\w.-]{8,}"), rf"\1{REDACTED}"),
    (re.compile(r"\beyJ[\w-]{8,}\.[\w-]+\.[\w-]*"), REDACTED),  # a JWT
    (
        re.compile(
            r"(?i)((?:api[_-]?key|access[_-]?token|id[_-]?token|refresh[_-]?token|token|secret|"
            r"password|assertion|client[_-]?secret)[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,}]+)"
        ),
        rf"\1{REDACTED}",
    ),
)


def redact(text: object, secrets: Iterable[str] = ()) -> str:
    """`text` as a string that is safe to log or store: credentials replaced by `[REDACTED]`.

    `secrets` are values known to be sensitive (the configured token or API key); they are removed
    verbatim even if they match no pattern (values shorter than 4 characters are ignored).
    """
    out = str(text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            out = out.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        out = pattern.sub(replacement, out)
    return out
