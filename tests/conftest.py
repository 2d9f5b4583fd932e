from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from importer.config import Settings
from importer.sandbox import SandboxServer, World

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


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
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
