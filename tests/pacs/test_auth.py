"""Bearer tokens and Google Cloud Healthcare API credentials reach the DICOMweb server (a loopback
stand-in recording the requests; Orthanc itself speaks only basic authentication, tested in
test_faults.py). Google's token comes from a generated service-account key whose token_uri is
the loopback server, through google-auth, as the Vertex backend's tests do."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from medgemma_ui.pacs.dicomweb import DicomwebClient, PacsError
from medgemma_ui.pacs.settings import PacsSettings
from tests.support.model_server import ModelServer, Reply

STUDY = [{"0020000D": {"vr": "UI", "Value": ["1.2.3.4"]}, "00080050": {"vr": "SH"}}]


@pytest.fixture
def server():
    with ModelServer(openai=False) as running:
        running.route(
            "/dicom-web/studies", [Reply(json=STUDY, content_type="application/dicom+json")]
        )
        yield running


def test_bearer_token_is_sent(server: ModelServer):
    settings = PacsSettings.from_env(
        {"MEDGEMMA_DICOMWEB_URL": f"{server.url}/dicom-web", "MEDGEMMA_DICOMWEB_TOKEN": "tok-1"}
    )
    with DicomwebClient(settings) as client:
        (study,) = client.find_studies("ACC-1")
    assert study.study_uid == "1.2.3.4"
    (request,) = server.requests_to("/dicom-web/studies")
    assert request.headers["authorization"] == "Bearer tok-1"
    assert request.headers["accept-encoding"] == "identity"
    assert "AccessionNumber=ACC-1" in request.query


def test_google_credentials_fetch_a_token_and_send_it(
    server: ModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "k",
        "private_key": pem,
        "client_email": "pacs@p.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": f"{server.url}/token",
    }
    (tmp_path / "sa.json").write_text(json.dumps(info))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "sa.json"))
    server.route("/token", [Reply(json={"access_token": "ya29.pacs", "expires_in": 3600})])
    settings = PacsSettings.from_env(
        {"MEDGEMMA_DICOMWEB_URL": f"{server.url}/dicom-web", "MEDGEMMA_DICOMWEB_AUTH": "google"}
    )
    with DicomwebClient(settings) as client:
        client.find_studies("1.2.3.4")
    (request,) = server.requests_to("/dicom-web/studies")
    assert request.headers["authorization"] == "Bearer ya29.pacs"
    claims = server.requests_to("/token")[0].form["assertion"].split(".")[1]
    scope = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["scope"]
    assert scope == "https://www.googleapis.com/auth/cloud-healthcare"


def test_refused_google_token_is_one_sentence(
    server: ModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    settings = PacsSettings.from_env(
        {"MEDGEMMA_DICOMWEB_URL": f"{server.url}/dicom-web", "MEDGEMMA_DICOMWEB_AUTH": "google"}
    )
    with pytest.raises(PacsError) as caught:
        DicomwebClient(settings)
    assert caught.value.kind == "not_configured"
    assert str(caught.value).count(". ") == 0
