"""deploy/compose.yaml, checked without Docker (none runs here): the replicas share PostgreSQL and
the model server, every variable is one the app reads, the proxy keeps sessions sticky."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from medgemma_ui.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
_VAR = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?message}`, as `docker compose` does."""

    def one(match: re.Match[str]) -> str:
        name, whole = match.group(1), match.group(0)
        if env.get(name):
            return env[name]
        if ":?" in whole:
            raise KeyError(f"{name} is required: {whole}")
        return whole.split(":-", 1)[1][:-1] if ":-" in whole else ""

    return _VAR.sub(one, value)


def app_environment(compose: dict, env: dict[str, str]) -> dict[str, str]:
    raw = compose["services"]["app"]["environment"]
    return {k: interpolate(str(v), env) for k, v in raw.items()}


def test_services_and_replicas(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"proxy", "app", "postgres", "vllm"}
    assert services["app"]["deploy"]["replicas"] >= 2
    assert (ROOT / services["app"]["build"]["context"].replace("..", ".")).resolve() == ROOT
    assert (ROOT / services["app"]["build"]["dockerfile"]).is_file()
    for name, service in services.items():
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image"
    # the same PostgreSQL major version as the tests run against
    assert services["postgres"]["image"].startswith("postgres:15")
    assert "pgdata" in compose["volumes"]


def test_replicas_share_the_store_and_the_model_server(compose: dict) -> None:
    services = compose["services"]
    env = app_environment(compose, {"POSTGRES_PASSWORD": "pw", "HF_TOKEN": "hf_x"})
    db = urlsplit(env["MEDGEMMA_FEEDBACK_DB"])
    assert db.scheme == "postgresql" and db.hostname == "postgres" and db.port == 5432
    postgres_env = services["postgres"]["environment"]
    assert db.username == postgres_env["POSTGRES_USER"]
    assert db.path == "/" + postgres_env["POSTGRES_DB"]
    assert "${POSTGRES_PASSWORD" in postgres_env["POSTGRES_PASSWORD"]
    assert "${POSTGRES_PASSWORD" in services["app"]["environment"]["MEDGEMMA_FEEDBACK_DB"]

    model = urlsplit(env["MEDGEMMA_OPENAI_BASE_URL"])
    assert model.hostname == "vllm"
    vllm_args = services["vllm"]["command"]
    assert str(model.port) == vllm_args[vllm_args.index("--port") + 1]
    assert env["MEDGEMMA_OPENAI_MODEL"] == vllm_args[vllm_args.index("--model") + 1]
    assert env["MEDGEMMA_DEFAULT_BACKEND"] == "openai"

    depends = services["app"]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert depends["vllm"]["condition"] == "service_healthy"


def test_the_app_accepts_this_environment(compose: dict) -> None:
    env = app_environment(compose, {"POSTGRES_PASSWORD": "pw", "HF_TOKEN": "hf_x"})
    known = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#") and "=" in line
    }
    assert set(env) <= known, set(env) - known
    settings = Settings.from_env(env)  # raises with a sentence on any malformed value
    assert settings.feedback.db_target == "postgresql://medgemma:pw@postgres:5432/medgemma"
    assert settings.server.host == "0.0.0.0" and settings.server.port == 7860
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD is required"):
        app_environment(compose, {"HF_TOKEN": "hf_x"})


def test_the_proxy_is_sticky_and_streams(compose: dict) -> None:
    proxy = compose["services"]["proxy"]
    mounted = [v.split(":")[0] for v in proxy["volumes"]]
    assert "./nginx.conf" in mounted
    conf = (DEPLOY / "nginx.conf").read_text()
    upstream = re.search(r"upstream medgemma_app \{(.*?)\}", conf, re.S)
    assert upstream is not None
    assert re.search(r"^\s*ip_hash;", upstream.group(1), re.M)  # Gradio state is per connection
    assert "server app:7860;" in upstream.group(1)
    assert "proxy_pass http://medgemma_app;" in conf
    assert "proxy_buffering off;" in conf  # token streaming
    assert 'proxy_set_header Connection "upgrade";' in conf


def test_no_secret_is_committed() -> None:
    text = (DEPLOY / "compose.yaml").read_text() + (DEPLOY / ".env.example").read_text()
    assert not re.search(r"hf_[A-Za-z0-9]{20,}", text)
    assert re.search(r"^POSTGRES_PASSWORD=$", (DEPLOY / ".env.example").read_text(), re.M)
