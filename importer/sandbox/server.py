"""Run the sandbox under uvicorn: in a background thread (tests, ``run --sandbox``) or in front."""

from __future__ import annotations

import signal
import socket
import threading
from types import FrameType, TracebackType

import uvicorn

from importer.sandbox.app import BASE_PATH, CONTROL_PATH, create_app
from importer.sandbox.world import DEFAULT_HOST, DEFAULT_PORT, World

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "SandboxServer", "bind", "serve_forever"]


def _config(
    world: World,
    access_log: bool = False,
    tls: tuple[str, str] | None = None,
    *,
    root_logging: bool = False,
) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(world),
        # root_logging: uvicorn's lines go through the process's own handlers (JSON logs)
        # instead of the formatters uvicorn installs.
        log_config=None if root_logging else uvicorn.config.LOGGING_CONFIG,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
        log_level="info" if access_log else "warning",
        access_log=access_log,
        lifespan="off",
        # Many short requests from a pool of keep-alive connections: keep them open.
        timeout_keep_alive=30,
    )


class SandboxServer:
    """A sandbox on a loopback port, in a background thread; use it as a context manager.

    ``port=0`` picks a free port. Stopping and starting a new ``SandboxServer`` on the same
    ``world`` and port is a restart that keeps the missions.
    """

    def __init__(
        self,
        world: World | None = None,
        host: str = DEFAULT_HOST,
        port: int = 0,
        *,
        tls: tuple[str, str] | None = None,
    ) -> None:
        self.world = world or World()
        self.host = host
        self.scheme = "https" if tls else "http"  # tls: (certificate chain, key) PEM files
        self._socket = bind(host, port)
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(_config(self.world, tls=tls))
        self._thread = threading.Thread(target=self._run, name="ocean-sandbox", daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What to give the importer as ``OCEAN_BASE_URL``."""
        return self.url + BASE_PATH

    @property
    def control_url(self) -> str:
        return self.url + CONTROL_PATH

    def _run(self) -> None:
        self._server.run(sockets=[self._socket])

    def start(self) -> SandboxServer:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the sandbox server did not start")
            threading.Event().wait(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def bind(host: str, port: int) -> socket.socket:
    """The listening socket; raises OSError when the port is taken or the host is not local."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelt out: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say
    # so, and with Nagle on every answer waits 40 ms for the client's delayed ACK.
    listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(socket.SOMAXCONN)
    except OSError:
        listening.close()
        raise
    return listening


def serve_forever(
    world: World, listening: socket.socket, access_log: bool = False, root_logging: bool = False
) -> None:
    """Serve on ``listening`` until Ctrl-C or SIGTERM, then return (a normal stop)."""
    # uvicorn stops cleanly on either signal, then raises it again for the previous handler:
    # make that handler end the serving quietly instead of killing the process.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        uvicorn.Server(_config(world, access_log, root_logging=root_logging)).run(
            sockets=[listening]
        )
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
