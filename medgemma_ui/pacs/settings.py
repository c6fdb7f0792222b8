"""The PACS (DICOMweb) settings, read from environment variables once at start.

`MEDGEMMA_DICOMWEB_URL` is the DICOMweb root (the URL that `/studies` is appended to): Orthanc's
`http://pacs:8042/dicom-web`, dcm4chee's `.../dcm4chee-arc/aets/DCM4CHEE/rs`, or Google Cloud
Healthcare API's `https://healthcare.googleapis.com/v1/projects/P/locations/L/datasets/D/
dicomStores/S/dicomWeb`. Authentication is a bearer token, a user and password, or Google
credentials (google-auth's application default credentials, `GOOGLE_APPLICATION_CREDENTIALS`);
`MEDGEMMA_DICOMWEB_AUTH` chooses, and by default it follows from what is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from medgemma_ui.env_values import SettingsError, read_bool, read_float, read_int, read_str

AUTH_KINDS = ("none", "basic", "bearer", "google")
GOOGLE_HEALTHCARE_HOST = "healthcare.googleapis.com"


@dataclass(frozen=True)
class PacsSettings:
    url: str = ""
    auth: str = "none"  # one of AUTH_KINDS, resolved from MEDGEMMA_DICOMWEB_AUTH (empty: auto)
    token: str = field(default="", repr=False)
    user: str = ""
    password: str = field(default="", repr=False)
    store: bool = False  # "Send SR to PACS" (STOW-RS) offered
    timeout_s: float = 30.0  # connect and read timeout of each request
    workers: int = 8  # instances retrieved at once

    @property
    def configured(self) -> bool:
        return bool(self.url)

    @property
    def can_store(self) -> bool:
        return self.configured and self.store

    @property
    def where(self) -> str:
        """host[:port] of the PACS, for sentences (never the path, a user or a password)."""
        parts = urlsplit(self.url)
        return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PacsSettings:
        url = read_str(env, "MEDGEMMA_DICOMWEB_URL").rstrip("/")
        if url:
            parts = urlsplit(url)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise SettingsError(
                    "MEDGEMMA_DICOMWEB_URL must be an http(s) URL such as "
                    "http://127.0.0.1:8042/dicom-web."
                )
            if parts.username or parts.password:
                raise SettingsError(
                    "MEDGEMMA_DICOMWEB_URL must not hold a user or password; set "
                    "MEDGEMMA_DICOMWEB_USER and MEDGEMMA_DICOMWEB_PASSWORD instead."
                )
        token = read_str(env, "MEDGEMMA_DICOMWEB_TOKEN")
        user = read_str(env, "MEDGEMMA_DICOMWEB_USER")
        password = read_str(env, "MEDGEMMA_DICOMWEB_PASSWORD")
        auth = read_str(env, "MEDGEMMA_DICOMWEB_AUTH").lower()
        if auth and auth not in AUTH_KINDS:
            raise SettingsError(
                f"MEDGEMMA_DICOMWEB_AUTH must be one of {', '.join(AUTH_KINDS)} (or empty: "
                f"chosen from what is set), got {auth!r}."
            )
        if not auth:
            if token:
                auth = "bearer"
            elif user:
                auth = "basic"
            elif urlsplit(url).hostname == GOOGLE_HEALTHCARE_HOST:
                auth = "google"
            else:
                auth = "none"
        if auth == "bearer" and not token:
            raise SettingsError("MEDGEMMA_DICOMWEB_AUTH=bearer needs MEDGEMMA_DICOMWEB_TOKEN.")
        if auth == "basic" and not user:
            raise SettingsError("MEDGEMMA_DICOMWEB_AUTH=basic needs MEDGEMMA_DICOMWEB_USER.")
        return cls(
            url=url,
            auth=auth,
            token=token,
            user=user,
            password=password,
            store=read_bool(env, "MEDGEMMA_DICOMWEB_STORE", False),
            timeout_s=read_float(env, "MEDGEMMA_DICOMWEB_TIMEOUT_S", 30.0, 0.1, 600.0),
            workers=read_int(env, "MEDGEMMA_DICOMWEB_WORKERS", 8, 1, 32),
        )
