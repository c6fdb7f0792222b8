from pathlib import Path

import pytest

from medgemma_ui.settings import Settings, SettingsError


def test_defaults_without_environment():
    settings = Settings.from_env({})
    assert settings.server.host == "127.0.0.1"
    assert settings.server.port == 7860
    assert settings.generation.max_tokens == 512
    assert settings.generation.temperature == 0.0
    assert settings.backends.default_backend == ""
    assert settings.feedback.db_path == Path("data/feedback.sqlite3")


def test_spaces_listens_on_all_interfaces():
    assert Settings.from_env({"SPACE_ID": "org/app"}).server.host == "0.0.0.0"


def test_values_are_read_and_typed():
    settings = Settings.from_env(
        {
            "MEDGEMMA_PORT": "8080",
            "MEDGEMMA_MAX_TOKENS": "1024",
            "MEDGEMMA_STRUCTURED_OUTPUT": "off",
            "MEDGEMMA_DEFAULT_BACKEND": "openai",
            "MEDGEMMA_MAX_IMAGE_MEGAPIXELS": "10",
        }
    )
    assert settings.server.port == 8080
    assert settings.generation.max_tokens == 1024
    assert settings.backends.structured_output is False
    assert settings.backends.default_backend == "openai"
    assert settings.image_limits.max_pixels == 10_000_000


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"MEDGEMMA_MAX_TOKENS": "2048"}, "MEDGEMMA_MAX_TOKENS must be between 1 and 1024"),
        ({"MEDGEMMA_PORT": "http"}, "MEDGEMMA_PORT must be a whole number"),
        ({"MEDGEMMA_TEMPERATURE": "warm"}, "MEDGEMMA_TEMPERATURE must be a number, got 'warm'"),
        ({"MEDGEMMA_TEMPERATURE": "2.5"}, "MEDGEMMA_TEMPERATURE must be between 0.0 and 2.0"),
        ({"MEDGEMMA_TEMPERATURE": "nan"}, "MEDGEMMA_TEMPERATURE must be between"),
        ({"MEDGEMMA_DEFAULT_BACKEND": "gpt"}, "MEDGEMMA_DEFAULT_BACKEND must be one of"),
        ({"MEDGEMMA_STRUCTURED_OUTPUT": "maybe"}, "must be true or false"),
    ],
)
def test_bad_values_name_the_variable(env, fragment):
    with pytest.raises(SettingsError, match=fragment):
        Settings.from_env(env)


def test_secrets_are_not_in_repr():
    env = {"HF_TOKEN": "hf_secret_value", "MEDGEMMA_OPENAI_API_KEY": "sk-x1"}
    settings = Settings.from_env(env)
    assert "hf_secret_value" not in repr(settings)
    assert "sk-x1" not in repr(settings)
