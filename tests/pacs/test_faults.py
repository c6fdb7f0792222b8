"""Bad input and faults against the real Orthanc: unknown study, empty series, a PACS that is
down, 401, 403, a slow PACS, a series over the frame limit. Each is one sentence (no UID in it),
and nothing is left half-written: no retrieved file, no output file, no SR in the PACS."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import tempfile
import time
from pathlib import Path

import pytest

from medgemma_ui.pacs.dicomweb import DicomwebClient, InstanceEntry, PacsError
from medgemma_ui.pacs.settings import PacsSettings
from medgemma_ui.settings import SettingsError
from tests.pacs.conftest import PacsData
from tests.pacs.test_roundtrip import run_cli
from tests.support.model_server import free_port
from tests.support.orthanc import READER


def one_sentence(error: PacsError, *secrets: str) -> str:
    text = str(error)
    assert "\n" not in text and text.endswith(".")
    assert len(re.findall(r"[.!?](?:\s|$)", text)) == 1, text
    for secret in secrets:
        assert secret not in text
    return text


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder retrieval writes into, to prove it is left empty."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_unknown_study_by_uid_or_accession(pacs_data: PacsData):
    with DicomwebClient(pacs_data.settings()) as client:
        for query in ("1.2.826.0.1.3680043.8.498.1", "NO-SUCH-ACCESSION"):
            with pytest.raises(PacsError) as caught:
                client.find_studies(query)
            assert caught.value.kind == "not_found"
            assert "No study" in one_sentence(caught.value, query)
        with pytest.raises(PacsError) as caught:
            client.list_series("1.2.826.0.1.3680043.8.498.1")
        assert caught.value.kind == "not_found"


def test_empty_series_retrieves_nothing(pacs_data: PacsData, scratch: Path):
    unknown_series = "1.2.826.0.1.3680043.8.498.2"
    with DicomwebClient(pacs_data.settings()) as client, pytest.raises(PacsError) as caught:
        asyncio.run(client.retrieve_series(pacs_data.ct_study, unknown_series, max_images=100))
    assert caught.value.kind == "empty"
    assert "no images" in one_sentence(caught.value, unknown_series)
    assert list(scratch.iterdir()) == []


def test_series_over_the_frame_limit_is_refused_before_retrieval(
    pacs_data: PacsData, scratch: Path
):
    before = pacs_data.pacs.statistics()
    with DicomwebClient(pacs_data.settings()) as client, pytest.raises(PacsError) as caught:
        asyncio.run(client.retrieve_series(pacs_data.ct_study, pacs_data.ct_series, max_images=5))
    assert caught.value.kind == "too_large"
    assert "12 images, over this server's limit of 5" in one_sentence(caught.value)
    assert list(scratch.iterdir()) == []
    assert pacs_data.pacs.statistics()["TotalDiskSize"] == before["TotalDiskSize"]


def test_failure_during_retrieval_leaves_no_file(pacs_data: PacsData, scratch: Path):
    with DicomwebClient(pacs_data.settings()) as client:
        entries = client.list_instances(pacs_data.ct_study, pacs_data.ct_series)
        entries.append(InstanceEntry("1.2.826.0.1.3680043.8.498.3"))  # gone from the PACS
        with pytest.raises(PacsError) as caught:
            asyncio.run(
                client.retrieve_series(
                    pacs_data.ct_study, pacs_data.ct_series, max_images=100, entries=entries
                )
            )
    assert caught.value.kind == "not_found"
    one_sentence(caught.value)
    assert list(scratch.iterdir()) == []


def test_pacs_down():
    settings = PacsSettings.from_env({"MEDGEMMA_DICOMWEB_URL": f"http://127.0.0.1:{free_port()}"})
    with DicomwebClient(settings) as client, pytest.raises(PacsError) as caught:
        client.find_studies("ACC-CT-1")
    assert caught.value.kind == "unreachable"
    assert "could not be reached" in one_sentence(caught.value)


def test_wrong_password_is_401(pacs_data: PacsData):
    settings = pacs_data.settings(MEDGEMMA_DICOMWEB_PASSWORD="wrong-password")
    with DicomwebClient(settings) as client, pytest.raises(PacsError) as caught:
        client.find_studies("ACC-CT-1")
    assert caught.value.kind == "auth"
    assert "(401)" in one_sentence(caught.value, "wrong-password")


def test_read_only_account_cannot_store_403_and_nothing_is_stored(pacs_data: PacsData):
    import pydicom

    from medgemma_ui.exports import SourceIndex
    from medgemma_ui.reports.facts import ReportFacts
    from medgemma_ui.reports.sr import SourceImage, build_sr

    reader = pacs_data.settings(
        MEDGEMMA_DICOMWEB_USER=READER[0], MEDGEMMA_DICOMWEB_PASSWORD=READER[1]
    )
    with DicomwebClient(reader) as client:
        retrieved = asyncio.run(
            client.retrieve_series(
                pacs_data.cxr_study, pacs_data.cxr_series, max_images=10, to_folder=False
            )
        )
        index = SourceIndex.from_sources(retrieved.sources)
        facts = ReportFacts(
            "cxr", "Chest X-ray", "1", "openai", "m", "0", "2026-01-01T00:00:00+00:00",
            "Clear.", (), True,
        )  # fmt: skip
        first = index.first
        assert first is not None
        sr = build_sr(facts, [SourceImage(first.header)])
        with pytest.raises(PacsError) as caught:
            client.store([sr], pacs_data.cxr_study)
    assert caught.value.kind == "forbidden"
    assert "(403)" in one_sentence(caught.value, pacs_data.cxr_study)
    modalities = [
        s["00080060"]["Value"][0] for s in pacs_data.pacs.series_in_study(pacs_data.cxr_study)
    ]
    assert modalities == ["CR"] or "SR" not in modalities
    assert isinstance(sr, pydicom.Dataset)


def test_slow_pacs_times_out_with_one_sentence():
    with socket.socket() as silent:  # accepts connections and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        settings = PacsSettings.from_env(
            {
                "MEDGEMMA_DICOMWEB_URL": f"http://127.0.0.1:{port}/dicom-web",
                "MEDGEMMA_DICOMWEB_TIMEOUT_S": "0.5",
            }
        )
        started = time.monotonic()
        with DicomwebClient(settings) as client, pytest.raises(PacsError) as caught:
            client.find_studies("ACC-CT-1")
    assert time.monotonic() - started < 5
    assert caught.value.kind == "timeout"
    assert "did not answer within 0.5 s" in one_sentence(caught.value)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MEDGEMMA_DICOMWEB_URL": "ftp://pacs/dicom-web"}, "http(s) URL"),
        ({"MEDGEMMA_DICOMWEB_URL": "http://u:p@pacs/dicom-web"}, "must not hold a user"),
        ({"MEDGEMMA_DICOMWEB_AUTH": "kerberos"}, "one of none, basic, bearer, google"),
        ({"MEDGEMMA_DICOMWEB_AUTH": "bearer"}, "needs MEDGEMMA_DICOMWEB_TOKEN"),
    ],
)
def test_malformed_settings_name_the_variable(env: dict[str, str], message: str):
    with pytest.raises(SettingsError, match=re.escape(message)):
        PacsSettings.from_env(env)


def test_auth_follows_from_what_is_set():
    def auth(**env: str) -> str:
        return PacsSettings.from_env(env).auth

    assert auth() == "none"
    assert auth(MEDGEMMA_DICOMWEB_TOKEN="t") == "bearer"
    assert auth(MEDGEMMA_DICOMWEB_USER="u") == "basic"
    google = "https://healthcare.googleapis.com/v1/projects/p/locations/l/datasets/d/dicomStores/s/dicomWeb"
    assert auth(MEDGEMMA_DICOMWEB_URL=google) == "google"
    assert "secret-value" not in repr(
        PacsSettings.from_env({"MEDGEMMA_DICOMWEB_TOKEN": "secret-value"})
    )


def test_cli_fault_is_one_line_and_writes_no_output(pacs_data: PacsData, tmp_path: Path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    sr_out = tmp_path / "result.sr.dcm"
    proc = run_cli(
        ["--study", "ACC-CT-1", "--series", "1", "--sr-out", str(sr_out)],
        pacs_data,
        "http://127.0.0.1:9/v1",
        scratch,
        MEDGEMMA_DICOMWEB_PASSWORD="wrong-password",
    )
    assert proc.returncode == 1
    (line,) = [json.loads(text) for text in proc.stdout.splitlines()]
    assert line["error_kind"] == "pacs_auth"
    assert "(401)" in line["errors"][0] and "Traceback" not in proc.stderr
    assert not sr_out.exists() and list(scratch.iterdir()) == []
