"""One exception type for every backend failure, and the HTTP error classification they share.

Every message and detail passes through `medgemma_ui.redaction.redact` before it is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from medgemma_ui.redaction import redact

ERROR_KINDS = (
    "auth",
    "not_found",
    "waking",
    "rate_limited",
    "too_large",
    "too_many_images",
    "bad_request",
    "server",
    "cuda",
    "timeout",
    "network",
    "bad_response",
    "not_configured",
    "cancelled",
)

_RETRYABLE_BY_DEFAULT = {"waking", "rate_limited"}


class BackendError(Exception):
    """A backend failed. `str(e)` is `user_message`: one sentence a clinician can act on.

    `detail` holds the technical reason for the log, already redacted. `retryable` says whether
    trying again unchanged may succeed; `retry_after_s` is the server's hint, if it gave one.
    """

    def __init__(
        self,
        kind: str,
        user_message: str,
        *,
        detail: str = "",
        retryable: bool | None = None,
        retry_after_s: float | None = None,
        status: int | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown error kind {kind!r}")
        self.kind = kind
        self.user_message = redact(user_message, secrets)
        self.detail = redact(detail, secrets)[:4000]
        self.retryable = kind in _RETRYABLE_BY_DEFAULT if retryable is None else retryable
        self.retry_after_s = retry_after_s
        self.status = status
        super().__init__(self.user_message)

    def __repr__(self) -> str:
        return f"BackendError(kind={self.kind!r}, status={self.status!r}, detail={self.detail!r})"


_CUDA_MARKERS = ("cuda error", "cublas_status", "cudnn_status", "cuda out of memory", "nccl error")
_TOO_LONG_MARKERS = (
    "must be <=",
    "maximum context length",
    "context length",
    "too many tokens",
    "input is too long",
    "exceeds the",
    "request entity too large",
    "payload too large",
)
_TRANSIENT_MARKERS = ("service_unavailable", "resource_exhausted", "unavailable", "overloaded")


def is_cuda_error(text: str) -> bool:
    low = text.lower()
    return any(marker in low for marker in _CUDA_MARKERS)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a `Retry-After` header (the delay-seconds form; HTTP dates are ignored)."""
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                seconds = float(value.strip())
            except ValueError:
                return None
            return seconds if seconds >= 0 else None
    return None


def cuda_error(label: str, detail: str, status: int | None = None) -> BackendError:
    return BackendError(
        "cuda",
        f"The {label}'s GPU failed on this request (a known TGI problem with long outputs); "
        "try fewer max tokens or another backend.",
        detail=detail,
        retryable=False,
        status=status,
    )


# How servers say a request holds more images than they allow: vLLM ("At most 1 image(s) may be
# provided in one request", "You set image=2 ... in `--limit-mm-per-prompt`, but passed 3 image
# items in the same prompt"), and other servers' "too many images".
_IMAGE_LIMIT_MARKERS = (
    r"at most \d+ image",
    r"limit[-_]mm[-_]per[-_]prompt",
    r"image items in the same prompt",
    r"too many images",
    r"number of images .* exceeds",
)


def http_error(
    status: int,
    body: str,
    *,
    label: str,
    config_hint: str,
    headers: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
) -> BackendError:
    """Classify an HTTP error answer into a `BackendError` with one clear sentence.

    `config_hint` names what to check, e.g. "HF_TOKEN and MEDGEMMA_HF_ENDPOINT_URL".
    """
    headers = headers or {}
    low = body.lower()
    detail = f"HTTP {status}: {body[:2000]}"
    retry_after = parse_retry_after(headers)

    def err(kind: str, message: str, retryable: bool | None = None) -> BackendError:
        return BackendError(
            kind,
            message,
            detail=detail,
            retryable=retryable,
            retry_after_s=retry_after,
            status=status,
            secrets=secrets,
        )

    if is_cuda_error(body):
        return cuda_error(label, redact(detail, secrets), status)
    if status in (401, 403):
        return err("auth", f"The {label} refused the credentials; check {config_hint}.")
    if status == 404:
        return err(
            "not_found",
            f"The {label} was not found at the configured address; check {config_hint}.",
        )
    if status in (400, 413, 422) and any(re.search(m, low) for m in _IMAGE_LIMIT_MARKERS):
        return err(
            "too_many_images",
            f"The {label} takes fewer images per request than were sent; raise its image "
            "limit (vLLM: --limit-mm-per-prompt '{\"image\": 85}'; other servers: their "
            "images-per-prompt setting) or choose a template that sends one image.",
        )
    if status == 413 or (status in (400, 422) and any(m in low for m in _TOO_LONG_MARKERS)):
        return err(
            "too_large",
            f"The request is too large for the {label}; lower max tokens or use a shorter prompt.",
        )
    if status == 429 or "resource_exhausted" in low:
        return err(
            "rate_limited",
            f"The {label} is rate-limiting requests; wait a moment and try again.",
            retryable=True,
        )
    if status in (400, 422):
        return err(
            "bad_request",
            f"The {label} rejected the request as invalid; try turning off structured output "
            "(MEDGEMMA_STRUCTURED_OUTPUT=false) or another backend.",
        )
    if status in (502, 503, 504) or any(m in low for m in _TRANSIENT_MARKERS):
        return err(
            "server",
            f"The {label} is temporarily unavailable; try again in a minute.",
            retryable=True,
        )
    return err("server", f"The {label} failed with an internal error (HTTP {status}); try again.")
