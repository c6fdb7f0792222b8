"""How a provider declares its settings: a frozen dataclass whose fields name their variables.

Each provider module defines one subclass of `ProviderConfig` (made a frozen dataclass by the
base class) and makes every field with `setting(...)`::

    class OpenAIConfig(ProviderConfig):
        base_url: str = setting("MEDGEMMA_OPENAI_BASE_URL", "the server's address", required=True)
        api_key: str = setting("MEDGEMMA_OPENAI_API_KEY", "sent as a Bearer token", secret=True)

From that one declaration come the environment reading (`read_config`), what "configured"
means (every `required` setting is non-empty), the operator's sentences (see `Backend`) and the
checks that `.env.example` lists every variable. Secrets are left out of `repr`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, dataclass_transform

from medgemma_ui.env_values import read_bool, read_str

_METADATA_KEY = "medgemma_ui.setting"


@dataclass(frozen=True)
class Setting:
    """One declared setting: its variable, a few words of help, and how it is treated."""

    env: str
    help: str
    secret: bool = False
    # The provider counts as configured only when every required setting is non-empty.
    required: bool = False
    field: str = ""  # the config field's name (filled in by `settings_of`)
    default: str | bool = ""


def setting(
    env: str,
    help: str,
    *,
    default: str | bool = "",
    secret: bool = False,
    required: bool = False,
) -> Any:
    """A config field read from `env` (a string, or a bool when `default` is one)."""
    if not isinstance(default, str | bool):
        raise TypeError(f"{env}: settings are strings or booleans, not {type(default).__name__}")
    info = Setting(env=env, help=help, secret=secret, required=required)
    return dataclasses.field(default=default, repr=not secret, metadata={_METADATA_KEY: info})


@dataclass_transform(frozen_default=True, field_specifiers=(setting,))
@dataclass(frozen=True)
class ProviderConfig:
    """Base of every provider's settings; a subclass is made a frozen dataclass as it is defined,
    and its fields are made with `setting`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(frozen=True)(cls)


ConfigT = TypeVar("ConfigT", bound=ProviderConfig)


_DECLARED: dict[type[ProviderConfig], tuple[Setting, ...]] = {}


def settings_of(config_type: type[ProviderConfig]) -> tuple[Setting, ...]:
    """The declared settings of a config class, in field order (checked once, then cached)."""
    cached = _DECLARED.get(config_type)
    if cached is not None:
        return cached
    if not dataclasses.is_dataclass(config_type) or not config_type.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        raise TypeError(f"{config_type.__name__} must be a frozen dataclass")
    found = []
    for field in dataclasses.fields(config_type):
        info = field.metadata.get(_METADATA_KEY)
        if not isinstance(info, Setting) or not isinstance(field.default, str | bool):
            raise TypeError(f"{config_type.__name__}.{field.name} is not made with setting()")
        found.append(dataclasses.replace(info, field=field.name, default=field.default))
    _DECLARED[config_type] = tuple(found)
    return _DECLARED[config_type]


def read_config(config_type: type[ConfigT], env: Mapping[str, str]) -> ConfigT:
    """The config with every declared variable read from `env` (empty or unset: the default)."""
    values: dict[str, str | bool] = {}
    for item in settings_of(config_type):
        if isinstance(item.default, bool):
            values[item.field] = read_bool(env, item.env, item.default)
        else:
            values[item.field] = read_str(env, item.env, item.default)
    return config_type(**values)


def env_name(config_type: type[ProviderConfig], field: str) -> str:
    """The variable that sets `config_type.field`, for messages that name one variable."""
    for item in settings_of(config_type):
        if item.field == field:
            return item.env
    raise KeyError(f"{config_type.__name__} has no setting {field!r}")
