"""The launched app driven through gradio_client (`api_name="analyze"`) against a loopback model."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from gradio_client import Client, handle_file
from PIL import Image
from pydicom.data import get_testdata_file

from medgemma_ui.ui.handlers.result_view import RESULT_OUTPUTS
from tests.support.app_runner import running_app, settings_for
from tests.support.model_server import CXR_ANSWER, ModelServer, Script

EXAMPLES = Path(__file__).resolve().parents[2] / "medgemma_ui" / "templates" / "data" / "examples"


def analyze_args(path: Path, template: str = "cxr", **overrides):
    args = {
        "file_path": handle_file(str(path)),
        "window": "default",
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


# The analyze API's outputs, in order: the image sent, then the result area (states are not sent).
OUTPUTS = ("preview", *(name for name in RESULT_OUTPUTS if name != "result_state"))


def named(outputs) -> dict:
    assert len(outputs) == len(OUTPUTS)
    return dict(zip(OUTPUTS, outputs, strict=True))


def sent_sha256(body: dict) -> list[str]:
    parts = body["messages"][0]["content"]
    urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    return [hashlib.sha256(base64.b64decode(u.split(",", 1)[1])).hexdigest() for u in urls]


@pytest.fixture(scope="module")
def model_server():
    with ModelServer(Script(token_delay_s=0.01, token_size=6)) as server:
        yield server


_DATABASES: dict[str, Path] = {}


def client_db(app_url: str) -> Path:
    return _DATABASES[app_url]


@pytest.fixture(scope="module")
def app_url(model_server, tmp_path_factory):
    settings = settings_for(model_server, tmp_path_factory.mktemp("app"))
    with running_app(settings) as url:
        _DATABASES[url] = settings.feedback.db_path
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
    out = named(job.result())
    raw, parsed, validity, timings = out["raw"], out["parsed"], out["validity"], out["timings"]
    assert raw == CXR_ANSWER
    assert parsed == json.loads(CXR_ANSWER)
    assert "Valid findings" in validity
    assert "prepare" in timings and "total" in timings
    # Streamed: intermediate updates hold growing prefixes of the answer.
    partials = [u[1] for u in updates if isinstance(u[1], str) and u[1]]
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
    out = named(
        client.predict(
            *analyze_args(EXAMPLES / "ct_head.dcm", template="ct", retries=0), api_name="/analyze"
        )
    )
    assert (
        out["raw"] == CXR_ANSWER
    )  # the loopback model answers the same text whatever the template
    assert out["parsed"] == json.loads(CXR_ANSWER)
    # The CT schema does not match the CXR answer: the app must say so, in plain words.
    assert "Not usable" in out["validity"]
    assert "$." not in out["validity"]
    assert "body region" in out["validity"]


def test_only_the_file_and_a_template_sends_that_templates_prompt(client, model_server):
    """Defect 3 of issue 12: the prompt parameter defaulted to the chest X-ray text."""
    from medgemma_ui.templates import get_template

    before = len(model_server.requests)
    out = named(
        client.predict(
            file_path=handle_file(str(EXAMPLES / "ct_head.dcm")), template="ct", api_name="/analyze"
        )
    )
    sent = model_server.requests[before].body["messages"][0]["content"][1]["text"]
    assert sent == get_template("ct").build_prompt()
    assert out["provenance"]["template"] == "ct"
    assert out["provenance"]["prompt"] == sent and out["provenance"]["prompt_edited"] is False


def test_only_the_file_suggests_the_template_and_binds_the_provenance(client, model_server):
    from medgemma_ui import __version__
    from medgemma_ui.templates import get_template

    before = len(model_server.requests)
    out = named(
        client.predict(
            file_path=handle_file(str(EXAMPLES / "mri_shoulder.dcm")), api_name="/analyze"
        )
    )
    requests = model_server.requests[before:]
    first = requests[0].body
    provenance = out["provenance"]
    assert provenance["template"] == "mri"  # suggested by the DICOM's modality
    assert first["messages"][0]["content"][1]["text"] == get_template("mri").build_prompt()
    assert provenance["image_sha256"] == sent_sha256(first)
    assert all(sent_sha256(r.body) == provenance["image_sha256"] for r in requests)
    assert provenance["retries"] == len(requests) - 1
    assert provenance["backend"] == "openai" and provenance["model"] == model_server.script.model
    assert provenance["app_version"] == __version__
    frames = provenance["frame_count"]
    assert provenance["frame_index"] == frames // 2
    # The image returned is the one sent: its pixels decode from the same JPEG.
    sent_jpeg = Image.open(
        io.BytesIO(
            base64.b64decode(
                first["messages"][0]["content"][0]["image_url"]["url"].split(",", 1)[1]
            )
        )
    )
    shown = Image.open(out["preview"])
    assert np.array_equal(np.asarray(shown.convert("RGB")), np.asarray(sent_jpeg.convert("RGB")))
    assert provenance["image_sha256"][0][:12] in out["provenance_line"]


def test_a_rating_through_the_api_keeps_the_provenance(app_url, model_server, png_path):
    from medgemma_ui.feedback import FeedbackStore

    client = Client(app_url, verbose=False, analytics_enabled=False)
    out = named(client.predict(handle_file(str(png_path)), template="cxr", api_name="/analyze"))
    # The README's example, keyword for keyword.
    message, reviewer = client.predict(
        overall="partly_agree",
        added="Small left effusion.",
        corrected="Left basal atelectasis; small effusion.",
        comment="Fine.",
        reviewer="Dr API",
        api_name="/save_feedback",
    )
    assert "Rating saved" in message and reviewer == "Dr API"
    reference = message.split("`")[1]
    db = client_db(app_url)
    with FeedbackStore(db) as store:
        [record] = [r for r in store.iter_all() if r.id.startswith(reference)]
    assert record.provenance == out["provenance"]
    assert record.overall_rating == "partly_agree"
    assert record.added_findings == ["Small left effusion."]
    assert record.corrected_impression == "Left basal atelectasis; small effusion."
    assert record.image_sha256 == out["provenance"]["image_sha256"][0]


def test_a_rating_without_a_result_is_refused(app_url):
    client = Client(app_url, verbose=False, analytics_enabled=False)
    with pytest.raises(Exception, match="no result to rate"):
        client.predict(overall="agree", api_name="/save_feedback")


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
        client.predict(None, api_name="/analyze")


def test_retry_after_an_invalid_answer(model_server, tmp_path, png_path):
    script = Script(answers=["I think the heart looks a bit big.", CXR_ANSWER])
    with ModelServer(script) as server:
        settings = settings_for(server, tmp_path)
        with running_app(settings) as url:
            client = Client(url, verbose=False, analytics_enabled=False)
            out = named(client.predict(*analyze_args(png_path), api_name="/analyze"))
            raw, parsed, validity = out["raw"], out["parsed"], out["validity"]
    assert len(server.requests) == 2
    retry_text = server.requests[1].body["messages"][0]["content"][1]["text"]
    assert "I think the heart looks a bit big." in retry_text
    assert parsed == json.loads(CXR_ANSWER)
    assert "asked again" in validity and out["provenance"]["retries"] == 1
    assert raw.startswith("I think the heart looks a bit big.")
    assert raw.endswith(CXR_ANSWER)
