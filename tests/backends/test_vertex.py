"""The Vertex backend: real google-auth with a generated service-account key whose token_uri is a
loopback OAuth server, and loopback `:predict` / OpenAI-compatible routes."""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt

from medgemma_ui.backends import (
    BackendError,
    BackendSettings,
    Completion,
    GenerationRequest,
    StatusUpdate,
    TextDelta,
)
from medgemma_ui.backends.providers.vertex import VertexBackend, VertexConfig, vertex_target
from tests.backends.conftest import FAST, collect, sent_parts
from tests.support.model_server import ModelServer, Reply, chat_stream

RESOURCE = "projects/test-proj/locations/us-central1/endpoints/1234567890"
PREDICT = f"/v1/{RESOURCE}:predict"
CHAT = f"/v1beta1/{RESOURCE}/chat/completions"
EMAIL = "medgemma-ui@test-proj.iam.gserviceaccount.com"


@pytest.fixture(scope="session")
def rsa_key() -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@pytest.fixture
def key_file(tmp_path: Path, rsa_key, server: ModelServer) -> Path:
    info = {
        "type": "service_account",
        "project_id": "test-proj",
        "private_key_id": "key-1",
        "private_key": rsa_key[0],
        "client_email": EMAIL,
        "client_id": "1",
        "token_uri": f"{server.url}/token",
    }
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    return path


def token_server(server: ModelServer, expires_in: int = 3600) -> None:
    counter = itertools.count(1)
    server.route(
        "/token",
        [
            lambda r: Reply(
                json={
                    "access_token": f"ya29.tok-{next(counter)}",
                    "expires_in": expires_in,
                    "token_type": "Bearer",
                }
            )
        ],
    )


def make(
    server: ModelServer,
    key_file: Path | str,
    *,
    endpoint: str = "",
    dedicated_dns: str = "",
    credentials_json: str = "",
    **changes: object,
) -> VertexBackend:
    config = VertexConfig(
        endpoint=endpoint or f"{server.url}{PREDICT}",
        dedicated_dns=dedicated_dns,
        credentials_file=str(key_file),
        credentials_json=credentials_json,
    )
    settings = BackendSettings(
        configs=(config,),
        connect_timeout_s=2,
        first_token_timeout_s=3,
        total_timeout_s=10,
        max_retries=2,
    )
    return VertexBackend(replace(settings, **changes), **FAST)


def choice(text: str, finish: str = "stop") -> dict:
    return {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}


USAGE = {"prompt_tokens": 270, "completion_tokens": 5, "total_tokens": 275}


@pytest.mark.parametrize(
    "answer",
    [
        {"predictions": {"choices": [choice("Normal study.")], "usage": USAGE}},
        {"predictions": [{"choices": [choice("Normal study.")], "usage": USAGE}]},
        {"predictions": [[choice("Normal study.")]]},
        {"predictions": ["Normal study."]},
    ],
    ids=["dict", "dedicated-list", "shared-nested", "plain-string"],
)
async def test_predict_route_request_and_every_answer_shape(
    server, key_file, request_, rsa_key, answer
) -> None:
    token_server(server)
    server.route(PREDICT, [Reply(json=answer)])
    backend = make(server, key_file)
    events = await collect(backend.stream(request_))
    await backend.aclose()
    assert events[0] == TextDelta("Normal study.")
    assert isinstance(events[1], Completion) and events[1].text == "Normal study."
    if "usage" in json.dumps(answer):
        assert events[1].usage == USAGE and events[1].finish_reason == "stop"

    [sent] = server.requests_to(PREDICT)
    assert sent.headers["authorization"] == "Bearer ya29.tok-1"
    [instance] = sent.body["instances"]
    assert instance == {
        "@requestFormat": "chatCompletions",
        "messages": request_.messages(),
        "max_tokens": 64,
        "temperature": 0.0,
    }
    assert [m["role"] for m in instance["messages"]] == ["user"]

    # The token request is a JWT bearer grant signed with the generated key.
    [grant] = server.requests_to("/token")
    form = grant.form
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    # google-auth always addresses the assertion to Google's token audience, whatever token_uri is.
    claims = jwt.decode(
        form["assertion"], certs=rsa_key[1], audience="https://oauth2.googleapis.com/token"
    )
    assert claims["iss"] == EMAIL
    assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"


async def test_application_default_credentials_from_env(
    server, key_file, request_, monkeypatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    token_server(server)
    server.route(PREDICT, [Reply(json={"predictions": [[choice("ok")]]})])
    backend = make(server, "")  # no file in settings: google.auth.default() reads the env
    events = await collect(backend.stream(request_))
    await backend.aclose()
    assert events[-1].text == "ok"
    assert server.requests_to(PREDICT)[0].headers["authorization"] == "Bearer ya29.tok-1"


async def test_service_account_key_content_from_a_secret(server, key_file, request_) -> None:
    token_server(server)
    server.route(PREDICT, [Reply(json={"predictions": [[choice("ok")]]})])
    backend = make(server, "", credentials_json=Path(key_file).read_text())
    events = await collect(backend.stream(request_))
    await backend.aclose()
    assert events[-1].text == "ok"
    assert server.requests_to(PREDICT)[0].headers["authorization"] == "Bearer ya29.tok-1"


async def test_token_is_cached_until_close_to_expiry(server, key_file, request_) -> None:
    token_server(server, expires_in=3600)
    server.route(PREDICT, [Reply(json={"predictions": [[choice("ok")]]})])
    backend = make(server, key_file)
    for _ in range(3):
        await collect(backend.stream(request_))
    await backend.aclose()
    assert len(server.requests_to("/token")) == 1
    assert {r.headers["authorization"] for r in server.requests_to(PREDICT)} == {
        "Bearer ya29.tok-1"
    }


async def test_expiring_token_is_refreshed(server, key_file, request_) -> None:
    token_server(server, expires_in=120)  # under the 5-minute margin: refresh before every use
    server.route(PREDICT, [Reply(json={"predictions": [[choice("ok")]]})])
    backend = make(server, key_file)
    await collect(backend.stream(request_))
    await collect(backend.stream(request_))
    await backend.aclose()
    assert len(server.requests_to("/token")) == 2
    assert [r.headers["authorization"] for r in server.requests_to(PREDICT)] == [
        "Bearer ya29.tok-1",
        "Bearer ya29.tok-2",
    ]


async def test_concurrent_requests_share_one_refresh(server, key_file, request_) -> None:
    token_server(server)
    server.route(PREDICT, [Reply(json={"predictions": [[choice("ok")]]}, delay=0.05)])
    backend = make(server, key_file)
    await asyncio.gather(*(collect(backend.stream(request_)) for _ in range(5)))
    await backend.aclose()
    assert len(server.requests_to("/token")) == 1
    assert len(server.requests_to(PREDICT)) == 5


@pytest.mark.parametrize("route", ["predict", "openai"])
async def test_several_images_reach_either_route_in_order(
    server, key_file, multi_request, route
) -> None:
    token_server(server)
    server.route(PREDICT, [Reply(json={"predictions": [[choice("ok")]]})])
    server.route(CHAT, [chat_stream(["ok"])])
    if route == "predict":
        backend = make(server, key_file)
    else:
        backend = make(server, key_file, endpoint=RESOURCE, dedicated_dns=server.url)
    events = await collect(backend.stream(multi_request))
    await backend.aclose()
    assert events[-1].text == "ok"
    if route == "predict":
        [instance] = server.requests_to(PREDICT)[0].body["instances"]
        [message] = instance["messages"]
    else:
        [message] = server.requests_to(CHAT)[0].body["messages"]
    assert message["role"] == "user"
    assert sent_parts(message) == list(multi_request.content)


async def test_streaming_route_with_dedicated_dns(server, key_file, jpeg) -> None:
    token_server(server)
    server.route(CHAT, [chat_stream(["Streamed ", "answer."])])
    backend = make(server, key_file, endpoint=RESOURCE, dedicated_dns=server.url)
    schema = {"type": "object"}
    events = await collect(backend.stream(GenerationRequest((jpeg, "p"), json_schema=schema)))
    await backend.aclose()
    assert events[:2] == [TextDelta("Streamed "), TextDelta("answer.")]
    assert events[-1].structured_output is True
    [sent] = server.requests_to(CHAT)
    body = sent.body
    assert sent.headers["authorization"] == "Bearer ya29.tok-1"
    assert body["model"] == "" and body["stream"] is True and body["messages"][0]["role"] == "user"
    assert body["response_format"]["json_schema"]["schema"] == schema


@pytest.mark.parametrize(
    "transient",
    [
        Reply(
            503, json={"error": {"code": 503, "message": "unavailable", "status": "UNAVAILABLE"}}
        ),
        Reply(
            429, json={"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}
        ),
        Reply(500, text="upstream said SERVICE_UNAVAILABLE"),
        Reply(200, json={"error": "RESOURCE_EXHAUSTED: try later"}),
    ],
)
async def test_transient_failures_are_retried(server, key_file, request_, transient) -> None:
    token_server(server)
    server.route(PREDICT, [transient, Reply(json={"predictions": [[choice("ok")]]})])
    backend = make(server, key_file)
    events = await collect(backend.stream(request_))
    await backend.aclose()
    assert isinstance(events[0], StatusUpdate)
    assert events[-1].text == "ok" and len(server.requests_to(PREDICT)) == 2


async def test_401_is_auth_and_drops_the_cached_token(server, key_file, request_) -> None:
    token_server(server)
    server.route(
        PREDICT,
        [
            Reply(401, json={"error": {"code": 401, "status": "UNAUTHENTICATED"}}),
            Reply(json={"predictions": ["ok"]}),
        ],
    )
    backend = make(server, key_file)
    with pytest.raises(BackendError) as info:
        await collect(backend.stream(request_))
    assert info.value.kind == "auth" and "GOOGLE_APPLICATION_CREDENTIALS" in str(info.value)
    await collect(backend.stream(request_))
    await backend.aclose()
    assert len(server.requests_to("/token")) == 2


async def test_refused_grant_is_an_auth_error(server, key_file, request_) -> None:
    server.route(
        "/token",
        [
            Reply(
                400, json={"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            )
        ],
    )
    backend = make(server, key_file)
    with pytest.raises(BackendError) as info:
        await collect(backend.stream(request_))
    status = await backend.health()
    await backend.aclose()
    assert info.value.kind == "auth"
    assert status.state == "unreachable"
    assert server.requests_to(PREDICT) == []


async def test_missing_key_file_is_not_configured(server, tmp_path, request_) -> None:
    backend = make(server, tmp_path / "missing.json")
    with pytest.raises(BackendError) as info:
        await collect(backend.stream(request_))
    assert info.value.kind == "not_configured"
    assert (await backend.health()).state == "not configured"
    await backend.aclose()


async def test_bad_predict_body(server, key_file, request_) -> None:
    token_server(server)
    server.route(PREDICT, [Reply(json={"unexpected": True})])
    backend = make(server, key_file)
    with pytest.raises(BackendError) as info:
        await collect(backend.stream(request_))
    await backend.aclose()
    assert info.value.kind == "bad_response"


async def test_health_gets_a_token_only(server, key_file) -> None:
    token_server(server)
    backend = make(server, key_file)
    status = await backend.health()
    await backend.aclose()
    assert status.state == "ready" and "1234567890" in status.model
    assert [r.path for r in server.received] == ["/token"]


@pytest.mark.parametrize(
    ("endpoint", "dns", "url", "route"),
    [
        (
            RESOURCE,
            "",
            f"https://us-central1-aiplatform.googleapis.com/v1/{RESOURCE}:predict",
            "predict",
        ),
        (
            RESOURCE,
            "123.us-central1-99.prediction.vertexai.goog",
            f"https://123.us-central1-99.prediction.vertexai.goog/v1beta1/{RESOURCE}/chat/completions",
            "openai",
        ),
        (
            f"https://us-central1-aiplatform.googleapis.com/v1/{RESOURCE}",
            "",
            f"https://us-central1-aiplatform.googleapis.com/v1/{RESOURCE}:predict",
            "predict",
        ),
        (
            f"https://123.us-central1-99.prediction.vertexai.goog/v1/{RESOURCE}",
            "",
            f"https://123.us-central1-99.prediction.vertexai.goog/v1beta1/{RESOURCE}/chat/completions",
            "openai",
        ),
        (
            f"https://x.prediction.vertexai.goog/v1/{RESOURCE}:predict",
            "",
            f"https://x.prediction.vertexai.goog/v1/{RESOURCE}:predict",
            "predict",
        ),
        (
            f"https://h/v1beta1/{RESOURCE}/chat/completions",
            "",
            f"https://h/v1beta1/{RESOURCE}/chat/completions",
            "openai",
        ),
    ],
)
def test_endpoint_forms(endpoint, dns, url, route) -> None:
    target = vertex_target(endpoint, dns)
    assert (target.url, target.route, target.resource) == (url, route, RESOURCE)


def test_unparsable_endpoint() -> None:
    with pytest.raises(BackendError) as info:
        vertex_target("my-endpoint")
    assert info.value.kind == "not_configured"
