"""Keep secrets out of feedback and logs.

Records are keyed by the SHA-256 of the prepared JPEG, so the only way a secret or a name gets in is
through free text. Tokens pasted by mistake are redacted rather than refused: refusing would lose
the clinician's rating, which is the one thing a feedback session must not do.
"""

from __future__ import annotations

import re

REDACTED = "[redacted token]"

# Bearer first, so "Bearer hf_..." is redacted as a whole.
_TOKEN_PATTERNS = (
    re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]{16,}", re.IGNORECASE),
    re.compile(r"\bhf_[A-Za-z0-9]{20,}"),
    re.compile(r"\b(?:sk|ya29)[-._][A-Za-z0-9._-]{20,}"),
)


def looks_like_token(text: str) -> bool:
    """True when `text` contains something shaped like an access token."""
    return any(p.search(text) for p in _TOKEN_PATTERNS)


def redact(text: str) -> str:
    """`text` with every token-shaped substring replaced by a marker; safe to log."""
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text
