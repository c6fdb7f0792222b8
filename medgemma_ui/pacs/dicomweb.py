"""A DICOMweb client for the PACS: find a study (QIDO-RS), list its series, retrieve a series'
instances in parallel (WADO-RS), store a result (STOW-RS). Built on `dicomweb-client`.

Every failure is a `PacsError` whose `str()` is one sentence a clinician can act on (PACS down,
401, 403, unknown study, empty series, too many images, slow PACS, a refused store...).

Privacy: UIDs and patient facts stay in memory. They never reach a log line (dicomweb-client
logs UIDs at INFO and urllib3 logs URLs at DEBUG: both loggers are held at WARNING), an error
sentence, or a file name (retrieved instances are written as `0001.dcm`, ... in a private
temporary folder).

Retrieval asks for the stored transfer syntax (`transfer-syntax=*`, so the PACS does not
transcode) without HTTP compression (`Accept-Encoding: identity`): on a local network, gzip of
a CT series costs the PACS far more time than it saves (README, *PACS*).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom

from medgemma_ui.pacs.settings import PacsSettings

log = logging.getLogger(__name__)

# dicomweb-client logs every UID it touches at INFO; urllib3 logs request URLs at DEBUG.
for _name in ("dicomweb_client", "urllib3.connectionpool"):
    logging.getLogger(_name).setLevel(logging.WARNING)

GOOGLE_SCOPES = ("https://www.googleapis.com/auth/cloud-healthcare",)
UID_PATTERN = re.compile(r"[0-9]+(\.[0-9]+)*")
MAX_UID_CHARS = 64
# QIDO attributes asked for beyond each level's defaults.
STUDY_FIELDS = ("StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedSeries")
SERIES_FIELDS = ("SeriesDescription", "NumberOfSeriesRelatedInstances", "SeriesNumber")
INSTANCE_FIELDS = ("InstanceNumber", "NumberOfFrames", "SOPClassUID")


class PacsError(Exception):
    """One sentence for the user; `kind` for code and tests.

    Kinds: not_configured, unreachable, timeout, auth (401), forbidden (403), not_found,
    empty, too_large, bad_request, server, bad_response, store_failed.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_uid(text: str) -> bool:
    return len(text) <= MAX_UID_CHARS and UID_PATTERN.fullmatch(text) is not None


def _value(item: dict[str, Any], tag: str, default: Any = "") -> Any:
    """The first value of a DICOM JSON attribute (`tag` as 8 hex digits)."""
    values = (item.get(tag) or {}).get("Value") or []
    if not values:
        return default
    first = values[0]
    if isinstance(first, dict) and "Alphabetic" in first:  # a person name
        return str(first["Alphabetic"])
    return first


def _int(item: dict[str, Any], tag: str) -> int | None:
    try:
        return int(_value(item, tag, None))
    except (TypeError, ValueError):
        return None


def _text(item: dict[str, Any], tag: str, limit: int = 64) -> str:
    return " ".join(str(_value(item, tag, "")).split())[:limit]


@dataclass(frozen=True)
class StudyMatch:
    """A study found on the PACS, with the facts the picker shows to the signed-in clinician."""

    study_uid: str = field(repr=False)
    accession: str = field(default="", repr=False)
    date: str = ""
    description: str = ""
    modalities: tuple[str, ...] = ()
    series_count: int | None = None

    def describe(self) -> str:
        date = f"{self.date[:4]}-{self.date[4:6]}-{self.date[6:8]}" if len(self.date) == 8 else ""
        parts = [
            date,
            f"accession {self.accession}" if self.accession else "",
            self.description or "no description",
            "/".join(self.modalities),
            f"{self.series_count} series" if self.series_count is not None else "",
        ]
        return ", ".join(p for p in parts if p)


@dataclass(frozen=True)
class SeriesEntry:
    study_uid: str = field(repr=False)
    series_uid: str = field(repr=False)
    modality: str = ""
    description: str = ""
    number: int | None = None  # SeriesNumber
    instances: int | None = None

    def describe(self) -> str:
        count = "? images" if self.instances is None else f"{self.instances} image(s)"
        number = f"#{self.number} " if self.number is not None else ""
        what = self.description or "no description"
        return f"{number}{self.modality or '?'}, {what}, {count}"


@dataclass(frozen=True)
class InstanceEntry:
    sop_instance_uid: str = field(repr=False)
    sop_class_uid: str = ""
    instance_number: int | None = None
    frames: int = 1


@dataclass(frozen=True)
class RetrievedInstance:
    """One instance as retrieved; `source` is its file (or bytes) for the image pipeline."""

    study_uid: str = field(repr=False)
    series_uid: str = field(repr=False)
    sop_instance_uid: str = field(repr=False)
    sop_class_uid: str
    source: str | bytes = field(repr=False)
    frames: int = 1

    @property
    def instance_sha256(self) -> str:
        """As the series planner and the provenance name it (SHA-256 of the SOP Instance UID)."""
        return sha256_text(self.sop_instance_uid)


@dataclass
class RetrievedSeries:
    """A retrieved series: its instances in the PACS's order and the private folder holding
    them (None when kept in memory). `cleanup()` removes the folder."""

    study_uid: str = field(repr=False)
    series_uid: str = field(repr=False)
    instances: tuple[RetrievedInstance, ...]
    folder: Path | None = None

    @property
    def sources(self) -> list[str | bytes]:
        return [instance.source for instance in self.instances]

    def cleanup(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


@dataclass(frozen=True)
class StoreOutcome:
    stored: int
    retrieve_url: str = field(default="", repr=False)


def _session(settings: PacsSettings) -> Any:
    """A requests session that authenticates as configured."""
    import requests

    if settings.auth == "google":
        try:
            import google.auth
            import google.auth.exceptions
            from google.auth.transport.requests import AuthorizedSession

            credentials, _ = google.auth.default(scopes=list(GOOGLE_SCOPES))
        except google.auth.exceptions.DefaultCredentialsError as exc:
            raise PacsError(
                "not_configured",
                "The PACS needs Google credentials and none were found; set up application "
                "default credentials or a service-account key for this app.",
            ) from exc
        session: Any = AuthorizedSession(credentials)
    else:
        session = requests.Session()
        if settings.auth == "basic":
            session.auth = (settings.user, settings.password)
        elif settings.auth == "bearer":
            session.headers["Authorization"] = f"Bearer {settings.token}"
    session.headers["Accept-Encoding"] = "identity"
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=max(10, settings.workers))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class DicomwebClient:
    """One PACS, as configured. Thread-safe for retrieval; close() when done."""

    def __init__(self, settings: PacsSettings) -> None:
        if not settings.configured:
            raise PacsError(
                "not_configured",
                "No PACS is set up on this server; ask the person who runs this app to set one.",
            )
        from dicomweb_client.api import DICOMwebClient

        self.settings = settings
        self._session = _session(settings)
        timeout = (min(settings.timeout_s, 10.0), settings.timeout_s)
        self._client = DICOMwebClient(settings.url, session=self._session, timeout=timeout)
        # dicomweb-client retries any exception up to 5 times with exponential waits (a PACS
        # that is down took 15 s to say so): one attempt, and the user's sentence says to retry.
        self._client.set_http_retry_params(retry=False)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._session.close()

    def __enter__(self) -> DicomwebClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- errors ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, action: str = "read studies") -> Iterator[None]:
        """requests' and google-auth's exceptions as one `PacsError` sentence each."""
        import requests

        where = self.settings.where
        try:
            yield
        except PacsError:
            raise
        except requests.exceptions.Timeout as exc:
            raise PacsError(
                "timeout",
                f"The PACS at {where} did not answer within {self.settings.timeout_s:g} s; try "
                "again later, or ask for a longer PACS timeout.",
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            raise PacsError(
                "unreachable",
                f"The PACS at {where} could not be reached; check that it is running and that "
                "this app points at it.",
            ) from exc
        except requests.exceptions.HTTPError as exc:
            raise _http_error(exc.response, where, action) from exc
        except requests.exceptions.RequestException as exc:
            log.warning("PACS request failed: %s", type(exc).__name__)
            raise PacsError(
                "bad_response", f"The PACS at {where} gave an answer this app cannot read."
            ) from exc
        except Exception as exc:
            if type(exc).__module__.startswith("google.auth"):
                raise PacsError(
                    "auth",
                    "The Google credentials for the PACS were refused; ask the person who runs "
                    "this app to check them.",
                ) from exc
            if isinstance(exc, ValueError | KeyError | pydicom.errors.InvalidDicomError):
                log.warning("PACS answer not understood: %s", type(exc).__name__)
                raise PacsError(
                    "bad_response", f"The PACS at {where} gave an answer this app cannot read."
                ) from exc
            raise

    # --- QIDO-RS --------------------------------------------------------------------------

    def find_studies(self, query: str, *, limit: int = 20) -> list[StudyMatch]:
        """Studies whose Study Instance UID (a dotted number) or accession number is `query`."""
        query = query.strip()
        if not query:
            raise PacsError("bad_request", "Type an accession number or a Study Instance UID.")
        if len(query) > MAX_UID_CHARS:
            raise PacsError("bad_request", "That is too long for an accession number or a UID.")
        key = "StudyInstanceUID" if is_uid(query) and "." in query else "AccessionNumber"
        with self._errors():
            found = self._client.search_for_studies(
                search_filters={key: query}, fields=list(STUDY_FIELDS), limit=limit
            )
        studies = [
            StudyMatch(
                study_uid=str(_value(item, "0020000D")),
                accession=_text(item, "00080050", 16),
                date=_text(item, "00080020", 8),
                description=_text(item, "00081030"),
                modalities=tuple(str(m) for m in (item.get("00080061") or {}).get("Value") or []),
                series_count=_int(item, "00201206"),
            )
            for item in found
            if _value(item, "0020000D")
        ]
        if not studies:
            raise PacsError(
                "not_found",
                "No study with that accession number or Study Instance UID is on the PACS.",
            )
        return studies

    def list_series(self, study_uid: str) -> list[SeriesEntry]:
        """The study's series, in SeriesNumber order; `not_found` for an unknown study."""
        _check_uid(study_uid, "Study Instance UID")
        with self._errors():
            found = self._client.search_for_series(study_uid, fields=list(SERIES_FIELDS))
        series = [
            SeriesEntry(
                study_uid=study_uid,
                series_uid=str(_value(item, "0020000E")),
                modality=_text(item, "00080060", 16),
                description=_text(item, "0008103E"),
                number=_int(item, "00200011"),
                instances=_int(item, "00201209"),
            )
            for item in found
            if _value(item, "0020000E")
        ]
        if not series:
            raise PacsError("not_found", "No study with that Study Instance UID is on the PACS.")
        return sorted(series, key=lambda s: (s.number is None, s.number or 0))

    def list_instances(self, study_uid: str, series_uid: str) -> list[InstanceEntry]:
        _check_uid(study_uid, "Study Instance UID")
        _check_uid(series_uid, "Series Instance UID")
        with self._errors():
            found = self._client.search_for_instances(
                study_uid, series_uid, fields=list(INSTANCE_FIELDS), get_remaining=True
            )
        return [
            InstanceEntry(
                sop_instance_uid=str(_value(item, "00080018")),
                sop_class_uid=str(_value(item, "00080016")),
                instance_number=_int(item, "00200013"),
                frames=_int(item, "00280008") or 1,
            )
            for item in found
            if _value(item, "00080018")
        ]

    # --- WADO-RS --------------------------------------------------------------------------

    def fetch_instance(self, study_uid: str, series_uid: str, entry: InstanceEntry) -> bytes:
        """One instance as stored (its Part 10 bytes, as the PACS sent them).

        WADO-RS through the client's session, with dicomweb-client's own multipart decoder;
        the bytes are kept as they come (`retrieve_instance` would parse them into a pydicom
        dataset, which then has to be written out again for the image pipeline: about 4 ms an
        instance, a third of the retrieval's CPU on a 2-core machine)."""
        url = (
            f"{self.settings.url}/studies/{study_uid}/series/{series_uid}"
            f"/instances/{entry.sop_instance_uid}"
        )
        accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'
        with self._errors():
            response = self._session.get(
                url, headers={"Accept": accept}, timeout=self._client._timeout
            )
            response.raise_for_status()
            if response.headers.get("Content-Type", "").startswith("application/dicom"):
                return bytes(response.content)  # a server that sends the part bare
            parts = [bytes(p) for p in self._client._decode_multipart_message(response, False)]
        if len(parts) != 1 or b"DICM" not in parts[0][:132]:
            raise PacsError(
                "bad_response",
                f"The PACS at {self.settings.where} sent something other than one DICOM file.",
            )
        return parts[0]

    def checked_instances(
        self, study_uid: str, series_uid: str, max_images: int
    ) -> list[InstanceEntry]:
        """The series' instances, refused (before anything is retrieved) when empty or over
        `max_images` images (files, or frames of one multi-frame file)."""
        entries = self.list_instances(study_uid, series_uid)
        if not entries:
            raise PacsError(
                "empty", "This series has no images on the PACS; choose another series."
            )
        if len(entries) > max_images:
            raise PacsError(
                "too_large",
                f"This series has {len(entries)} images, over this server's limit of "
                f"{max_images}; choose a smaller series.",
            )
        frames = max(entry.frames for entry in entries)
        if frames > max_images:
            raise PacsError(
                "too_large",
                f"This series has a file of {frames} frames, over this server's limit of "
                f"{max_images}; choose a smaller series.",
            )
        return entries

    async def retrieve_series(
        self,
        study_uid: str,
        series_uid: str,
        *,
        max_images: int,
        to_folder: bool = True,
        on_progress: Callable[[int, int], None] | None = None,
        on_instance: Callable[[RetrievedInstance, InstanceEntry], None] | None = None,
        entries: Sequence[InstanceEntry] | None = None,
    ) -> RetrievedSeries:
        """Every instance of the series, retrieved `settings.workers` at a time, into a private
        temporary folder (0700; `to_folder=False`: kept as bytes). `on_progress(done, total)`
        and `on_instance` run on the event loop as each instance arrives (so preparation can
        start while the rest downloads). On any failure nothing is left behind."""
        if entries is None:
            entries = await asyncio.to_thread(
                self.checked_instances, study_uid, series_uid, max_images
            )
        folder = Path(tempfile.mkdtemp(prefix="medgemma-pacs-")) if to_folder else None
        total = len(entries)
        results: list[RetrievedInstance | None] = [None] * total
        loop = asyncio.get_running_loop()

        def fetch(index: int) -> tuple[int, RetrievedInstance]:
            entry = entries[index]
            data = self.fetch_instance(study_uid, series_uid, entry)
            source: str | bytes = data
            if folder is not None:
                path = folder / f"{index + 1:04}.dcm"
                path.write_bytes(data)
                source = str(path)
            instance = RetrievedInstance(
                study_uid=study_uid,
                series_uid=series_uid,
                sop_instance_uid=entry.sop_instance_uid,
                sop_class_uid=entry.sop_class_uid,
                source=source,
                frames=entry.frames,
            )
            return index, instance

        pool = ThreadPoolExecutor(max_workers=max(1, min(self.settings.workers, total)))
        futures = [loop.run_in_executor(pool, fetch, i) for i in range(total)]
        try:
            for done, finished in enumerate(asyncio.as_completed(futures), 1):
                index, instance = await finished
                results[index] = instance
                if on_instance is not None:
                    on_instance(instance, entries[index])
                if on_progress is not None:
                    on_progress(done, total)
        except BaseException:
            for future in futures:
                future.cancel()
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        pool.shutdown(wait=False)
        instances = tuple(r for r in results if r is not None)
        return RetrievedSeries(study_uid, series_uid, instances, folder)

    # --- STOW-RS --------------------------------------------------------------------------

    def store(self, datasets: Sequence[pydicom.Dataset], study_uid: str) -> StoreOutcome:
        """Store the datasets in their study; `store_failed` when the PACS refuses any."""
        with self._errors("store results"):
            answer = self._client.store_instances(list(datasets), study_instance_uid=study_uid)
        failed = answer.get("FailedSOPSequence") or []
        stored = answer.get("ReferencedSOPSequence") or []
        if failed or len(stored) < len(datasets):
            reasons = {int(item.get("FailureReason", 0) or 0) for item in failed}
            reason = f" (failure reason {', '.join(f'0x{r:04X}' for r in sorted(reasons))})"
            raise PacsError(
                "store_failed",
                f"The PACS did not store the SR{reason if reasons - {0} else ''}; nothing was "
                "stored, try again or ask the PACS administrator.",
            )
        return StoreOutcome(len(stored), str(answer.get("RetrieveURL", "") or ""))


def _check_uid(uid: str, what: str) -> None:
    if not is_uid(uid):
        raise PacsError("bad_request", f"That {what} is not a valid DICOM UID.")


def _http_error(response: Any, where: str, action: str) -> PacsError:
    status = getattr(response, "status_code", 0)
    if status == 401:
        return PacsError(
            "auth",
            f"The PACS at {where} refused this app's credentials (401); ask the person who "
            "runs this app to check the PACS user, password or token.",
        )
    if status == 403:
        return PacsError(
            "forbidden",
            f"The PACS at {where} does not allow this app's account to {action} (403); ask "
            "the PACS administrator for that right.",
        )
    if status == 404:
        return PacsError(
            "not_found",
            "The PACS does not have that study or series (404); check the number and try again.",
        )
    if status == 413:
        return PacsError("too_large", f"The PACS at {where} refused the request as too large.")
    if status >= 500:
        return PacsError("server", f"The PACS at {where} failed ({status}); try again later.")
    return PacsError("bad_response", f"The PACS at {where} refused the request ({status}).")
