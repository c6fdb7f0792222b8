"""The store's suite runs against SQLite and a real PostgreSQL started for the test session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from medgemma_ui.feedback.postgres import PostgresFeedbackStore
from tests.support.postgres import PostgresServer

STORES = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session (about 1.5 s to start); each test gets a
    schema of its own through `new_target`. Missing PostgreSQL fails, it does not skip."""
    try:
        server = PostgresServer()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    with server:
        yield server


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def new_target(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[[str], Path | str]:
    """`new_target(name)`: a fresh, empty database of this test's kind (a SQLite file in
    tmp_path, or a PostgreSQL URL with its own schema); the same name gives the same one."""
    made: dict[str, Path | str] = {}

    def make(name: str = "f") -> Path | str:
        if name not in made:
            if store_kind == "sqlite":
                made[name] = tmp_path / f"{name}.db"
            else:
                server: PostgresServer = request.getfixturevalue("postgres")
                made[name] = server.new_url()
        return made[name]

    return make


@pytest.fixture(autouse=True)
def close_postgres_stores(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every PostgreSQL store a test opened (their pools' threads end with them)."""
    opened: list[PostgresFeedbackStore] = []
    original = PostgresFeedbackStore.__init__

    def init(self: PostgresFeedbackStore, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        opened.append(self)

    monkeypatch.setattr(PostgresFeedbackStore, "__init__", init)
    yield
    for store in opened:
        store.close()
