"""Google access tokens for Vertex AI: loaded and refreshed in a worker thread, cached, never
blocking the event loop.

google-auth's own HTTP transports need `requests` or `urllib3`, which this app does not install;
`HttpxAuthRequest` implements its documented transport interface (`google.auth.transport.Request`)
with httpx instead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import google.auth
import google.auth.exceptions
import google.auth.transport
import httpx
from google.oauth2 import service_account

from medgemma_ui.backends.errors import BackendError
from medgemma_ui.redaction import redact

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


class _AuthResponse(google.auth.transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return dict(self._response.headers)

    @property
    def data(self) -> bytes:
        return self._response.content


class HttpxAuthRequest(google.auth.transport.Request):
    """A synchronous google-auth transport on httpx (used only inside worker threads)."""

    def __init__(self, timeout: float = 10.0) -> None:
        self._client = httpx.Client(timeout=timeout)
        self._timeout = timeout

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> google.auth.transport.Response:
        try:
            response = self._client.request(
                method, url, content=body, headers=headers, timeout=timeout or self._timeout
            )
        except httpx.HTTPError as error:
            raise google.auth.exceptions.TransportError(error) from error
        return _AuthResponse(response)

    def close(self) -> None:
        self._client.close()


def _utcnow() -> dt.datetime:
    # google-auth keeps `expiry` as a naive UTC datetime.
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class TokenSource:
    """A bearer token from a service-account file or application default credentials.

    The token is refreshed when less than `margin_s` of its lifetime is left; one lock makes
    concurrent requests share a single refresh.
    """

    def __init__(
        self,
        credentials_file: str = "",
        *,
        credentials_json: str = "",
        timeout_s: float = 10.0,
        margin_s: float = 300.0,
    ):
        self.credentials_file = credentials_file
        # A Spaces secret holds the key's content; there is no file to point at.
        self.credentials_json = credentials_json
        self.margin = dt.timedelta(seconds=margin_s)
        self._request = HttpxAuthRequest(timeout_s)
        self._credentials: Any = None
        self._lock = asyncio.Lock()
        self.refreshes = 0

    def _load(self) -> Any:
        if self.credentials_json:
            info = json.loads(self.credentials_json)
            return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
        if self.credentials_file:
            with open(self.credentials_file, encoding="utf-8") as handle:
                kind = json.load(handle).get("type")
            if kind == "service_account":
                return service_account.Credentials.from_service_account_file(
                    self.credentials_file, scopes=SCOPES
                )
            credentials, _ = google.auth.load_credentials_from_file(
                self.credentials_file, scopes=SCOPES
            )
            return credentials
        credentials, _ = google.auth.default(scopes=SCOPES)
        return credentials

    def _fresh(self) -> bool:
        creds = self._credentials
        if creds is None or not creds.token:
            return False
        return creds.expiry is None or creds.expiry - _utcnow() > self.margin

    def _refresh(self) -> None:
        self._credentials.refresh(self._request)
        self.refreshes += 1

    async def token(self) -> str:
        async with self._lock:
            try:
                if self._credentials is None:
                    self._credentials = await asyncio.to_thread(self._load)
                if not self._fresh():
                    await asyncio.to_thread(self._refresh)
            except (OSError, ValueError, google.auth.exceptions.GoogleAuthError) as error:
                raise auth_error(error) from None
            return str(self._credentials.token)

    def invalidate(self) -> None:
        """Forget the token (after a 401) so the next request fetches a new one."""
        if self._credentials is not None:
            self._credentials.token = None

    def close(self) -> None:
        self._request.close()


def auth_error(error: Exception) -> BackendError:
    detail = redact(f"{type(error).__name__}: {error}")
    if isinstance(error, google.auth.exceptions.DefaultCredentialsError):
        return BackendError(
            "not_configured",
            "No Google credentials were found; set GOOGLE_APPLICATION_CREDENTIALS to a "
            "service-account key file.",
            detail=detail,
            retryable=False,
        )
    if isinstance(error, google.auth.exceptions.TransportError):
        return BackendError(
            "network",
            "Could not reach Google's token service; check the network connection.",
            detail=detail,
            retryable=False,
        )
    if isinstance(error, OSError | ValueError):
        return BackendError(
            "not_configured",
            "The Google credentials file could not be read; check GOOGLE_APPLICATION_CREDENTIALS.",
            detail=detail,
            retryable=False,
        )
    return BackendError(
        "auth",
        "Google refused the service-account credentials; check GOOGLE_APPLICATION_CREDENTIALS.",
        detail=detail,
        retryable=False,
    )
