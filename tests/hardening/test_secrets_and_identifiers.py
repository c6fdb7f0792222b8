"""Secrets and patient identifiers never leave the app by the wrong door.

Through the launched app (gradio_client), with every log record at DEBUG captured:
- a backend that echoes the API key / HF token in its 401 error body: the key is in neither the
  error the user gets nor any log record;
- a DICOM whose PatientName, PatientID and file name identify a person: none of them reaches the
  model server (body or headers), the logs, or the answer; nor, for a truncated copy, the error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from gradio_client import Client, handle_file
from pydicom.data import get_testdata_file

from medgemma_ui.backends.providers.hf_endpoint import HFEndpointConfig
from medgemma_ui.backends.providers.openai_compat import OpenAIConfig
from tests.support.app_runner import running_app, settings_for
from tests.support.model_server import CXR_ANSWER, ModelServer, Reply, Script

OPENAI_KEY = "sk-test-SECRET123456"
HF_TOKEN = "hf_testTOKENabcdef0123456789"
IDENTIFIERS = ("Grace", "Hopper", "GH-1906")


class _Everything(logging.Handler):
    """Keeps every record, including those of loggers that do not propagate to the root."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[list[logging.LogRecord]]:
    caplog.set_level(logging.DEBUG)
    handler = _Everything()
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def log_text(records: list[logging.LogRecord]) -> str:
    """Everything a log handler could write: message, arguments, traceback, stack."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    parts = []
    for record in records:
        parts.append(formatter.format(record))
        parts.append(repr(record.args))
    return "\n".join(parts)


def analyze_args(path: Path, backend: str = "openai", template: str = "cxr") -> list[Any]:
    return [handle_file(str(path)), None, 0, backend, template, "", 256, 0.0, True, 0]


def user_error(client: Client, args: list[Any]) -> str:
    with pytest.raises(Exception) as info:
        client.predict(*args, api_name="/analyze")
    return str(info.value)


@pytest.fixture
def dicom_path(tmp_path: Path) -> Path:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName = "Grace^Hopper"
    ds.PatientID = "GH-1906"
    path = tmp_path / "Grace_Hopper_chest.dcm"
    ds.save_as(path)
    return path


def test_keys_echoed_in_a_401_reach_neither_the_user_nor_the_logs(
    tmp_path: Path, dicom_path: Path, all_logs: list[logging.LogRecord]
) -> None:
    echo = Script(statuses=[401], error_echo_headers=True)
    tgi = ModelServer(openai=False).start()
    tgi.route(
        "/v1/chat/completions",
        [lambda r: Reply(401, text=f"invalid token {r.headers['authorization']}; got {r.headers}")],
    )
    try:
        with ModelServer(echo) as server:
            settings = settings_for(
                server,
                tmp_path,
                OpenAIConfig(server.base_url, api_key=OPENAI_KEY, model=server.script.model),
                HFEndpointConfig(url=tgi.url, token=HF_TOKEN),
                max_retries=1,
            )
            with running_app(settings) as url:
                client = Client(url, verbose=False, analytics_enabled=False)
                openai_error = user_error(client, analyze_args(dicom_path, "openai", "ct"))
                hf_error = user_error(client, analyze_args(dicom_path, "hf-endpoint", "ct"))
    finally:
        tgi.stop()

    # The servers did get the secrets, and did echo them: the test is live.
    assert server.requests[-1].headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert len(server.requests) == 1  # a 401 is not retried
    tgi_requests = tgi.requests_to("/v1/chat/completions")
    assert len(tgi_requests) == 1
    assert tgi_requests[0].headers["authorization"] == f"Bearer {HF_TOKEN}"

    assert "refused the credentials" in openai_error and "MEDGEMMA_OPENAI_API_KEY" in openai_error
    assert "refused the credentials" in hf_error and "HF_TOKEN" in hf_error
    logs = log_text(all_logs)
    # Both echoed bodies were logged (that is useful), with the secrets taken out.
    assert logs.count("kind=auth status=401") == 2
    assert "'authorization': 'Bearer [REDACTED]'" in logs
    for secret in (OPENAI_KEY, "SECRET123456", HF_TOKEN, "TOKENabcdef0123456789"):
        assert secret not in openai_error
        assert secret not in hf_error
        assert secret not in logs


def test_patient_identifiers_stay_out_of_requests_logs_and_errors(
    tmp_path: Path, dicom_path: Path, all_logs: list[logging.LogRecord]
) -> None:
    broken = tmp_path / "Grace_Hopper_broken.dcm"
    data = dicom_path.read_bytes()
    broken.write_bytes(data[: len(data) // 3])
    # The files do carry the identifiers, so a leak is possible.
    for path in (dicom_path, broken):
        assert b"Grace^Hopper" in path.read_bytes() and b"GH-1906" in path.read_bytes()

    with ModelServer(Script()) as server, running_app(settings_for(server, tmp_path)) as url:
        client = Client(url, verbose=False, analytics_enabled=False)
        outputs = client.predict(*analyze_args(dicom_path, template="ct"), api_name="/analyze")
        broken_error = user_error(client, analyze_args(broken, template="ct"))

    raw = outputs[1]  # after the image sent
    assert raw == CXR_ANSWER  # the good file went through analyze
    assert len(server.requests) == 1  # the broken one never reached the backend
    assert "image" in broken_error.lower() or "dicom" in broken_error.lower(), broken_error

    request = server.requests[0]
    sent = json.dumps(request.body) + json.dumps(request.headers)
    assert "data:image/jpeg;base64," in sent  # pixels go out, nothing else
    shown = json.dumps(outputs, default=str)
    logs = log_text(all_logs)
    assert "medgemma_ui" in logs or "httpx" in logs  # logging was captured at all
    for needle in (*IDENTIFIERS, "Grace_Hopper", "chest.dcm", "broken.dcm"):
        assert needle not in sent, needle
        assert needle not in shown, needle
        assert needle not in broken_error, needle
        assert needle not in logs, needle
