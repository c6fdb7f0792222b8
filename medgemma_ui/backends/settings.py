"""The backends' settings: the shared knobs, plus each provider's own config from its declaration.

`medgemma_ui.settings.Settings` holds one `BackendSettings` (read by `BackendSettings.from_env`);
nothing in the backends package reads the environment itself or imports `medgemma_ui.settings`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from medgemma_ui.backends import discovery
from medgemma_ui.backends.config import ConfigT, ProviderConfig, read_config
from medgemma_ui.env_values import SettingsError, read_bool, read_float, read_int, read_str


@dataclass(frozen=True)
class BackendSettings:
    """Timeouts, retries and limits every backend shares, and one config per provider.

    `configs` always holds one config object per discovered provider, in menu order: configs
    not given are their defaults (nothing set), so equal settings compare equal. A backend reads
    its own with `settings.config(ItsConfig)`.

    To build settings for one backend (tests, benchmarks), pass its typed config::

        BackendSettings(configs=(OpenAIConfig(base_url=url, model="m"),), max_retries=1)
        settings.with_config(dataclasses.replace(settings.config(OpenAIConfig), api_key=""))
    """

    configs: tuple[ProviderConfig, ...] = ()
    default_backend: str = ""
    connect_timeout_s: float = 10.0
    first_token_timeout_s: float = 120.0
    total_timeout_s: float = 300.0
    wake_wait_s: float = 300.0
    max_retries: int = 3
    structured_output: bool = True
    health_ttl_s: float = 30.0
    concurrency: int = 16

    def __post_init__(self) -> None:
        given: dict[type[ProviderConfig], ProviderConfig] = {}
        for config in self.configs:
            if type(config) in given:
                raise TypeError(f"configs holds two {type(config).__name__}")
            given[type(config)] = config
        known = [p.config_type for p in discovery.backend_classes()]
        unknown = sorted(t.__name__ for t in given if t not in known)
        if unknown:
            raise TypeError(f"no provider declares {', '.join(unknown)}")
        full = tuple(given[t] if t in given else t() for t in known)
        object.__setattr__(self, "configs", full)

    def config(self, config_type: type[ConfigT]) -> ConfigT:
        """The settings of the provider that declares `config_type`."""
        for config in self.configs:
            if type(config) is config_type:
                return config
        raise TypeError(f"no provider declares {config_type.__name__}")

    def with_config(self, *configs: ProviderConfig) -> BackendSettings:
        """These settings with the given providers' configs replaced (a later one wins)."""
        new = {type(c): c for c in configs}
        kept = tuple(c for c in self.configs if type(c) not in new)
        return dataclasses.replace(self, configs=(*kept, *new.values()))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BackendSettings:
        names = discovery.backend_names()
        default_backend = read_str(env, "MEDGEMMA_DEFAULT_BACKEND")
        if default_backend and default_backend not in names:
            raise SettingsError(
                f"MEDGEMMA_DEFAULT_BACKEND must be one of {', '.join(names)}, "
                f"got {default_backend!r}."
            )
        return cls(
            configs=tuple(read_config(p.config_type, env) for p in discovery.backend_classes()),
            default_backend=default_backend,
            connect_timeout_s=read_float(env, "MEDGEMMA_CONNECT_TIMEOUT_S", 10.0, 0.1, 600),
            first_token_timeout_s=read_float(
                env, "MEDGEMMA_FIRST_TOKEN_TIMEOUT_S", 120.0, 0.1, 3600
            ),
            total_timeout_s=read_float(env, "MEDGEMMA_TOTAL_TIMEOUT_S", 300.0, 0.1, 7200),
            wake_wait_s=read_float(env, "MEDGEMMA_WAKE_WAIT_S", 300.0, 0, 7200),
            max_retries=read_int(env, "MEDGEMMA_MAX_RETRIES", 3, 0, 20),
            structured_output=read_bool(env, "MEDGEMMA_STRUCTURED_OUTPUT", True),
            health_ttl_s=read_float(env, "MEDGEMMA_HEALTH_TTL_S", 30.0, 0, 3600),
            concurrency=read_int(env, "MEDGEMMA_BACKEND_CONCURRENCY", 16, 1, 1000),
        )
