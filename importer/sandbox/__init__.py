"""A local Ocean-compatible server: the demo's target, the tests' Ocean, the benchmarks' load.

It imports nothing of the pipeline but the API's field names and formats
(``importer.schemas.api``), so it can never agree with the client by sharing its code.

    with SandboxServer() as sandbox:          # a free loopback port, in a thread
        sandbox.base_url                      # http://127.0.0.1:PORT/ocean/restapi
        sandbox.world.script("M1", "503")     # the next request about M1 answers 503
        sandbox.world.missions()              # what Ocean holds now

The server side (Starlette, uvicorn) is imported on first use only, so that the commands
that never serve do not pay for it at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from importer.sandbox.world import FAILURE_KINDS, Account, Faults, Logged, World

if TYPE_CHECKING:
    from importer.sandbox.app import BASE_PATH, CONTROL_PATH, create_app
    from importer.sandbox.server import (
        DEFAULT_HOST,
        DEFAULT_PORT,
        SandboxServer,
        bind,
        serve_forever,
    )

_LAZY = {
    "BASE_PATH": "app",
    "CONTROL_PATH": "app",
    "create_app": "app",
    "DEFAULT_HOST": "server",
    "DEFAULT_PORT": "server",
    "SandboxServer": "server",
    "bind": "server",
    "serve_forever": "server",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"importer.sandbox.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'importer.sandbox' has no attribute {name!r}")


__all__ = [
    "BASE_PATH",
    "CONTROL_PATH",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "FAILURE_KINDS",
    "Account",
    "Faults",
    "Logged",
    "SandboxServer",
    "World",
    "bind",
    "create_app",
    "serve_forever",
]
