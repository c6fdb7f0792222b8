"""A backend is one provider file: names, settings, "configured", the default and the messages all
come from the providers' declarations, and providers never import each other."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import medgemma_ui.backends.providers as providers_package
from medgemma_ui.backends import (
    BackendRegistry,
    BackendSettings,
    GenerationRequest,
    backend_classes,
    backend_help,
    backend_names,
    discovery,
)
from medgemma_ui.backends.providers.openai_compat import OpenAIConfig
from medgemma_ui.backends.providers.vertex import VertexConfig
from medgemma_ui.env_values import SettingsError
from medgemma_ui.settings import Settings
from tests.backends.conftest import collect

BACKENDS_DIR = Path(__file__).resolve().parents[2] / "medgemma_ui" / "backends"

ECHO_PROVIDER = '''
"""A backend that answers with the prompt in capitals (written by a test)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from medgemma_ui.backends.base import Backend
from medgemma_ui.backends.config import ProviderConfig, setting
from medgemma_ui.backends.types import (
    AttemptEnd,
    BackendStatus,
    GenerationRequest,
    StatusUpdate,
    TextDelta,
)


class EchoConfig(ProviderConfig):
    url: str = setting("MEDGEMMA_ECHO_URL", "where the echo server listens", required=True)
    key: str = setting("MEDGEMMA_ECHO_KEY", "its key", secret=True)


class EchoBackend(Backend[EchoConfig]):
    name = "echo"
    label = "echo server"
    order = 25

    @property
    def model(self) -> str:
        return "echo-1"

    async def health(self) -> BackendStatus:
        return BackendStatus("ready", self.config.url, self.model)

    async def _attempt(
        self, request: GenerationRequest, structured: bool
    ) -> AsyncIterator[TextDelta | StatusUpdate | AttemptEnd]:
        yield TextDelta(request.prompt.upper())
        yield AttemptEnd(finish_reason="stop")


BACKEND = EchoBackend
'''


@pytest.fixture
def extra_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder added to the providers package's path: a file written there is a provider."""
    folder = tmp_path / "more_providers"
    folder.mkdir()
    monkeypatch.setattr(providers_package, "__path__", [*providers_package.__path__, str(folder)])
    discovery.backend_classes.cache_clear()
    yield folder
    discovery.backend_classes.cache_clear()
    for name, module in list(sys.modules.items()):
        if str(folder) in (getattr(module, "__file__", None) or ""):
            del sys.modules[name]


def add_provider(folder: Path, name: str, source: str) -> None:
    (folder / f"{name}.py").write_text(source, encoding="utf-8")
    importlib.invalidate_caches()


def test_the_four_providers_in_menu_order() -> None:
    assert backend_names() == ("hf-endpoint", "vertex", "openai", "local")
    assert [p.order for p in backend_classes()] == sorted(p.order for p in backend_classes())
    assert backend_help()["openai"] == "OpenAI-compatible server (set MEDGEMMA_OPENAI_BASE_URL)"


async def test_adding_a_provider_file_adds_a_backend_everywhere(
    extra_provider: Path, jpeg: bytes
) -> None:
    add_provider(extra_provider, "echo", ECHO_PROVIDER)
    assert backend_names() == ("hf-endpoint", "vertex", "echo", "openai", "local")
    assert backend_help()["echo"] == "echo server (set MEDGEMMA_ECHO_URL)"

    # Settings read its variables; "configured" and the default follow its required setting.
    unset = BackendRegistry(Settings.from_env({}).backends)
    assert not unset.configured("echo") and unset.default_name() == "openai"
    assert "MEDGEMMA_ECHO_URL" in unset.provider("echo").how_to_configure()
    registry = BackendRegistry(Settings.from_env({"MEDGEMMA_ECHO_URL": "http://e"}).backends)
    assert registry.names()[2] == "echo" and registry.label("echo") == "echo server"
    assert registry.configured("echo") and registry.default_name() == "echo"
    chosen = Settings.from_env({"MEDGEMMA_DEFAULT_BACKEND": "echo"}).backends
    assert BackendRegistry(chosen).default_name() == "echo"
    with pytest.raises(SettingsError, match="one of hf-endpoint, vertex, echo, openai, local"):
        Settings.from_env({"MEDGEMMA_DEFAULT_BACKEND": "gpt"})

    # Secrets are declared once: out of repr, and redacted from the backend's logged details.
    secret = Settings.from_env({"MEDGEMMA_ECHO_URL": "http://e", "MEDGEMMA_ECHO_KEY": "k-123456"})
    assert "k-123456" not in repr(secret)
    assert BackendRegistry(secret.backends).get("echo")._secrets == ("k-123456",)

    events = await collect(registry.get("echo").stream(GenerationRequest((jpeg, "hello"))))
    assert events[-1].text == "HELLO" and events[-1].model == "echo-1"
    assert (await registry.statuses())["echo"].state == "ready"
    await registry.aclose()


def test_a_provider_with_an_undeclared_setting_is_refused(extra_provider: Path) -> None:
    broken = ECHO_PROVIDER.replace(
        '    key: str = setting("MEDGEMMA_ECHO_KEY", "its key", secret=True)',
        '    key: str = ""',
    )
    add_provider(extra_provider, "broken", broken)
    with pytest.raises(TypeError, match=r"providers\.broken: EchoConfig\.key is not made with"):
        backend_names()


def test_the_config_type_is_said_once_in_the_brackets() -> None:
    # Backend[Config] names the settings; the config class is a frozen dataclass by inheritance.
    assert {p.name: p.config_type for p in backend_classes()}["openai"] is OpenAIConfig
    config = OpenAIConfig(base_url="http://127.0.0.1:1/v1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.base_url = "http://elsewhere"  # type: ignore[misc]

    from medgemma_ui.backends.base import Backend

    with pytest.raises(TypeError, match=r"Backend\[OpenAIConfig\] but sets config_type = Vertex"):

        class Confused(Backend[OpenAIConfig]):  # type: ignore[type-abstract]
            config_type = VertexConfig


def test_a_module_without_backend_is_refused(extra_provider: Path) -> None:
    add_provider(extra_provider, "helper", "VALUE = 1\n")
    with pytest.raises(TypeError, match=r"providers\.helper must set BACKEND"):
        backend_names()


def test_configured_is_every_required_setting() -> None:
    for provider in backend_classes():
        required = [s for s in provider.declared_settings() if s.required]
        assert required, f"{provider.name} declares no required setting"
        assert not provider.is_configured(provider.config_type())
        filled = provider.config_type(**{s.field: "x" for s in required})
        assert provider.is_configured(filled)
        registry = BackendRegistry(BackendSettings(configs=(filled,)))
        assert [n for n in registry.names() if registry.configured(n)] == [provider.name]


def test_settings_hold_one_config_per_provider() -> None:
    assert BackendSettings() == Settings.from_env({}).backends
    settings = BackendSettings(configs=(OpenAIConfig(base_url="http://x"),))
    assert [type(c).__name__ for c in settings.configs] == [
        "HFEndpointConfig",
        "VertexConfig",
        "OpenAIConfig",
        "LocalConfig",
    ]
    assert settings.config(OpenAIConfig).base_url == "http://x"
    assert settings.config(VertexConfig) == VertexConfig()
    changed = settings.with_config(OpenAIConfig(base_url="http://y"), VertexConfig(endpoint="e"))
    assert changed.config(OpenAIConfig).base_url == "http://y"
    assert changed.config(VertexConfig).endpoint == "e"
    with pytest.raises(TypeError, match="two OpenAIConfig"):
        BackendSettings(configs=(OpenAIConfig(), OpenAIConfig()))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            found.add(node.module or "")
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_provider_imports_another_provider() -> None:
    modules = sorted((BACKENDS_DIR / "providers").glob("*.py"))
    names = {p.stem for p in modules if p.stem != "__init__"}
    assert names == {"hf_endpoint", "vertex", "openai_compat", "local_transformers"}
    for path in modules:
        for imported in _imports(path):
            assert not imported.startswith(f"{discovery.PACKAGE}."), (path.name, imported)


def test_backends_import_neither_the_app_settings_nor_the_ui() -> None:
    for path in sorted(BACKENDS_DIR.rglob("*.py")):
        for imported in _imports(path):
            for forbidden in ("medgemma_ui.settings", "medgemma_ui.ui", "medgemma_ui.analysis"):
                assert imported != forbidden and not imported.startswith(f"{forbidden}."), (
                    path.name,
                    imported,
                )


def test_discovering_the_providers_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from medgemma_ui.backends import BackendRegistry\n"
        "from medgemma_ui.settings import Settings\n"
        "r = BackendRegistry(Settings.from_env({}).backends)\n"
        "print(r.names(), r.default_name(), [r.get(n).label for n in r.names()])\n"
        "heavy = ('httpx', 'huggingface_hub', 'google.auth', 'torch', 'transformers', 'PIL')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.splitlines()[-1] == "[]"


def test_operator_messages_come_from_the_declarations() -> None:
    from medgemma_ui.ui.server import no_backend_warning

    warning = no_backend_warning()
    for provider in backend_classes():
        for setting in provider.declared_settings():
            assert setting.env in warning
    assert "install requirements-local.txt" in warning


def test_the_page_shows_no_variable_name_from_a_health_detail() -> None:
    from medgemma_ui.ui.handlers.model import ASK_THE_OPERATOR, for_clinicians

    assert for_clinicians("the endpoint refused HF_TOKEN") == ASK_THE_OPERATOR
    assert for_clinicians("No Google credentials; set GOOGLE_APPLICATION_CREDENTIALS") == (
        ASK_THE_OPERATOR
    )
    assert for_clinicians("no answer within 5 s") == "no answer within 5 s"
