"""The fixtures every test module may ask for (the helpers they import are in helpers.py)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from importer import i18n
from importer.config import Settings
from importer.sandbox import SandboxServer, World
from tests.helpers import free_port, load_make_samples
from tests.postgres import PostgresServer

# Every server of the suite is on loopback: a proxy that the developer's environment names
# is not for them (the client honours HTTP_PROXY; test_run.py sets its own for its proxy).
_LOOPBACK = ",".join(filter(None, [os.environ.get("no_proxy") or os.environ.get("NO_PROXY"),
                                   "127.0.0.1", "localhost"]))  # fmt: skip
os.environ["NO_PROXY"] = os.environ["no_proxy"] = _LOOPBACK


@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The suite reads the English words unless a test asks for French (``french``): French
    is the product's default, and its own tests say so (test_language.py)."""
    monkeypatch.setenv("OCEAN_IMPORT_LANG", "en")
    with i18n.speaking("en"):
        yield


@pytest.fixture
def french(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The product as a French dispatcher gets it by default: no language set anywhere."""
    monkeypatch.delenv("OCEAN_IMPORT_LANG", raising=False)
    with i18n.speaking("fr"):
        yield


@pytest.fixture(scope="session")
def sample_start() -> dt.date:
    """The first day of the samples: tomorrow, as ``make samples`` dates them."""
    return load_make_samples().tomorrow()


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory, sample_start: dt.date) -> Path:
    """The sample plannings as ``make samples`` makes them, dated from tomorrow."""
    folder = tmp_path_factory.mktemp("samples")
    load_make_samples().write_samples(folder, sample_start)
    return folder


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def world() -> World:
    return World(seed=7)


@pytest.fixture
def sandbox(world: World) -> Iterator[SandboxServer]:
    """A real sandbox server on a free loopback port, stopped after the test."""
    with SandboxServer(world) as server:
        yield server


@pytest.fixture
def unused_port() -> int:
    """A loopback port that was free a moment ago (for servers started in a subprocess)."""
    return free_port()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the suite's own (started once, stopped at the end)."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """The address of a fresh, empty PostgreSQL database (its password in it)."""
    return postgres.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_address(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new state store's address, on each backend: the contract holds on both."""
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return str(request.getfixturevalue("pg_url"))
