"""The launched app driven through gradio_client (`api_name="analyze"`) against a loopback model."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from gradio_client import Client, handle_file
from PIL import Image
from pydicom.data import get_testdata_file

from tests.support.app_runner import running_app, settings_for
from tests.support.model_server import CXR_ANSWER, ModelServer, Script

EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "examples"


def analyze_args(path: Path, template: str = "cxr", **overrides):
    args = {
        "file_path": handle_file(str(path)),
        "window": None,
        "frame": 0,
        "backend": "openai",
        "template": template,
        "prompt": "",
        "max_tokens": 512,
        "temperature": 0.0,
        "structured": True,
        "retries": 1,
    }
    args.update(overrides)
    return list(args.values())


@pytest.fixture(scope="module")
def model_server():
    with ModelServer(Script(token_delay_s=0.01, token_size=6)) as server:
        yield server


@pytest.fixture(scope="module")
def app_url(model_server, tmp_path_factory):
    settings = settings_for(model_server, tmp_path_factory.mktemp("app"))
    with running_app(settings) as url:
        yield url


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False, analytics_enabled=False)


@pytest.fixture
def png_path(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "scan.png"
    Image.fromarray(rng.integers(0, 255, (300, 200), dtype=np.uint8)).save(path)
    return path


def test_png_streams_and_returns_raw_and_parsed(client, model_server, png_path):
    before = len(model_server.requests)
    job = client.submit(*analyze_args(png_path), api_name="/analyze")
    updates = list(job)
    raw, parsed, validity, _status, timings = job.result()
    assert raw == CXR_ANSWER
    assert parsed == json.loads(CXR_ANSWER)
    assert "Valid findings" in validity
    assert "prepare" in timings and "total" in timings
    # Streamed: intermediate updates hold growing prefixes of the answer.
    partials = [u[0] for u in updates if isinstance(u[0], str) and u[0]]
    assert len(partials) >= 3
    assert all(CXR_ANSWER.startswith(p) for p in partials)
    assert len(model_server.requests) == before + 1


def test_request_is_one_user_message_image_first(client, model_server, png_path):
    client.predict(*analyze_args(png_path), api_name="/analyze")
    body = model_server.requests[-1].body
    assert [m["role"] for m in body["messages"]] == ["user"]
    content = body["messages"][0]["content"]
    assert [part["type"] for part in content] == ["image_url", "text"]
    url = content[0]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert sent.format == "JPEG" and sent.size == (896, 896)
    assert "JSON" in content[1]["text"]
    assert body["max_tokens"] == 512


def test_dicom_through_the_api(client, model_server):
    raw, parsed, validity, _, _ = client.predict(
        *analyze_args(EXAMPLES / "ct_head.dcm", template="ct", retries=0), api_name="/analyze"
    )
    assert raw == CXR_ANSWER  # the loopback model answers the same text whatever the template
    assert parsed == json.loads(CXR_ANSWER)
    # The CT schema does not match the CXR answer: the app must say so, not pretend.
    assert "Not valid for this template" in validity


def test_patient_name_and_file_name_never_reach_the_backend(client, model_server, tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName = "Rosalind^Franklin"
    ds.PatientID = "RF-19200725"
    path = tmp_path / "Rosalind_Franklin_chest.dcm"
    ds.save_as(path)
    client.predict(*analyze_args(path, template="ct"), api_name="/analyze")
    sent = json.dumps(model_server.requests[-1].body) + json.dumps(
        model_server.requests[-1].headers
    )
    for secret in ("Rosalind", "Franklin", "RF-19200725", "chest.dcm"):
        assert secret not in sent


def test_text_file_gives_one_clear_sentence(client, tmp_path):
    path = tmp_path / "notes.dcm"
    path.write_text("Patient seen in clinic today. No imaging attached.\n" * 20)
    with pytest.raises(Exception) as excinfo:
        client.predict(*analyze_args(path), api_name="/analyze")
    message = str(excinfo.value)
    assert "image" in message.lower()
    assert "Traceback" not in message


def test_missing_file_asks_for_an_upload(client):
    with pytest.raises(Exception, match="Upload an image"):
        client.predict(None, None, 0, "openai", "cxr", "", 512, 0.0, True, 1, api_name="/analyze")


def test_retry_after_an_invalid_answer(model_server, tmp_path, png_path):
    script = Script(answers=["I think the heart looks a bit big.", CXR_ANSWER])
    with ModelServer(script) as server:
        settings = settings_for(server, tmp_path)
        with running_app(settings) as url:
            client = Client(url, verbose=False, analytics_enabled=False)
            raw, parsed, validity, _, _ = client.predict(
                *analyze_args(png_path), api_name="/analyze"
            )
    assert len(server.requests) == 2
    retry_text = server.requests[1].body["messages"][0]["content"][1]["text"]
    assert "I think the heart looks a bit big." in retry_text
    assert parsed == json.loads(CXR_ANSWER)
    assert "asked again" in validity
    assert raw.startswith("I think the heart looks a bit big.")
    assert raw.endswith(CXR_ANSWER)


def test_examples_exist_for_every_template():
    from medgemma_ui.templates import TEMPLATE_IDS
    from medgemma_ui.ui.components.examples import EXAMPLES as UI_EXAMPLES

    assert {template for _, template, _ in UI_EXAMPLES} == set(TEMPLATE_IDS)
    for name, _, _ in UI_EXAMPLES:
        assert (EXAMPLES / name).is_file(), name
