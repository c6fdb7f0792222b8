"""The one `redact`: credentials out of log lines and feedback free text, ordinary words kept."""

from __future__ import annotations

import pytest

from medgemma_ui.redaction import REDACTED, redact


def test_log_line_credentials_are_removed() -> None:
    text = (
        'Authorization: Bearer abc.def-123 token=hf_abcdefghijklmnop api_key="sk-123456789012" '
        "ya29.a0AfH6SMB data:image/jpeg;base64,/9j/4AAQSkZJRg== "
        '"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\\n" other'
    )
    out = redact(text, secrets=["my-odd-secret"])
    for secret in (
        "abc.def-123",
        "hf_abcdefghijklmnop",
        "sk-123456789012",
        "ya29.a0AfH6SMB",
        "/9j/4AAQ",
        "MIIE",
    ):
        assert secret not in out
    assert out.endswith("other") and REDACTED in out
    assert redact("key my-odd-secret here", ["my-odd-secret"]) == f"key {REDACTED} here"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{'authorization': 'Bearer short'}", f"{{'authorization': 'Bearer {REDACTED}'}}"),
        ("Authorization: Basic dXNlcjpwYXNz", f"Authorization: Basic {REDACTED}"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", REDACTED),
        ("jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln done", f"jwt {REDACTED} done"),
        ("password: hunter2!", f"password: {REDACTED}"),
        ("sk_live.abcdefghijklmnopqrstuv", f"sk_{REDACTED}"),
    ],
)
def test_each_credential_shape(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_a_token_pasted_into_free_text_is_redacted() -> None:
    token = "hf_" + "a1B2" * 9
    assert redact(f"pasted {token} by mistake") == f"pasted hf_{REDACTED} by mistake"
    assert redact(f"Authorization: Bearer {token}") == f"Authorization: Bearer {REDACTED}"
    assert redact("Bearer abcdefghijklmnopqrstuvwxyz0123") == f"Bearer {REDACTED}"


@pytest.mark.parametrize(
    "text",
    [
        "hf_short and normal words",
        "Basic metabolic panel normal; basic views only.",
        "Weight-bearer views requested; the bearer of the films.",
        "Risk-benefit discussed; tokens of 5 words.",
        "AP and lateral views, no secret here",
    ],
)
def test_clinical_free_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_anything_becomes_a_string() -> None:
    assert redact(ValueError("token=abc")) == f"token={REDACTED}"
