"""A real Orthanc PACS for the tests: Debian's `orthanc` with its DICOMweb plugin
(`orthanc-dicomweb`; `scripts/ensure-orthanc.sh` installs both), started on a free loopback port
with a temporary storage folder and its own configuration, and stopped at the end.

Authentication is on (HTTP basic): `USER` may do everything; `READER` may only read (a Lua
filter refuses its POST and DELETE with 403, as a read-only PACS account would); anyone else
gets 401. Remote access is off (127.0.0.1 only) and the DICOM port is off.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.model_server import free_port

ORTHANC = "Orthanc"
PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
USER = ("medgemma", "pacs-password")
READER = ("reader", "reader-password")
_FILTER = """
function IncomingHttpRequestFilter(method, uri, ip, username, httpHeaders)
  if username == '%s' and method ~= 'GET' then
    return false
  end
  return true
end
"""


def available() -> bool:
    return shutil.which(ORTHANC) is not None and PLUGIN.is_file()


class Orthanc:
    """`with Orthanc(folder) as pacs:` ... `pacs.dicomweb` is the DICOMweb root."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    def start(self) -> Orthanc:
        self.folder.mkdir(parents=True, exist_ok=True)
        lua = self.folder / "filter.lua"
        lua.write_text(_FILTER % READER[0], encoding="utf-8")
        config = {
            "Name": "MEDGEMMA_TEST_PACS",
            "StorageDirectory": str(self.folder / "storage"),
            "IndexDirectory": str(self.folder / "storage"),
            "HttpPort": self.port,
            "DicomServerEnabled": False,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": dict([USER, READER]),
            "Plugins": [str(PLUGIN)],
            "LuaScripts": [str(lua)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
            "HttpThreadsCount": 16,
        }
        path = self.folder / "orthanc.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        log = (self.folder / "orthanc.log").open("wb")
        self.process = subprocess.Popen(
            [ORTHANC, str(path)], stdout=log, stderr=subprocess.STDOUT, cwd=self.folder
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/system", auth=USER, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Orthanc did not start: {self.log_tail()}")

    def log_tail(self) -> str:
        path = self.folder / "orthanc.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def __enter__(self) -> Orthanc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- helpers for tests (Orthanc's own REST API) ------------------------------------------

    def upload(self, files: list[Path]) -> None:
        with httpx.Client(auth=USER, timeout=30) as client:
            for file in files:
                client.post(f"{self.url}/instances", content=file.read_bytes()).raise_for_status()

    def series_in_study(self, study_uid: str) -> list[dict]:
        """DICOM JSON of every series of the study (QIDO-RS), read back as the tests check."""
        with httpx.Client(auth=USER, timeout=30) as client:
            answer = client.get(
                f"{self.dicomweb}/studies/{study_uid}/series",
                params={"includefield": "SeriesDescription"},
            )
            answer.raise_for_status()
            return answer.json() if answer.content else []

    def statistics(self) -> dict:
        return httpx.get(f"{self.url}/statistics", auth=USER, timeout=10).json()
