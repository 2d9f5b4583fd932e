"""A throwaway PostgreSQL server for the tests: Debian's ``postgresql`` package (installed by
``make postgres``), ``initdb`` + ``pg_ctl`` on a temporary folder and a free loopback port,
stopped and removed at the end. Logins over TCP need a password (scram-sha-256), as on a
real server; each test gets a database of its own."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from tests.helpers import free_port

USER = "ocean"
PASSWORD = "s3cret-pg-password"
_numbers = itertools.count(1)


def bin_dir() -> Path:
    """Where ``initdb`` and ``pg_ctl`` are (Debian keeps them out of PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    if which := shutil.which("initdb"):
        return Path(which).resolve().parent
    raise RuntimeError(
        "PostgreSQL's initdb was not found: `make postgres` installs Debian's postgresql package"
    )


def _version(path: str) -> int:
    return int(Path(path).parent.parent.name) if Path(path).parent.parent.name.isdigit() else 0


class PostgresServer:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="ocean-import-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.bin = bin_dir()
        # initdb refuses to run as root: the server then runs as Debian's postgres user.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> PostgresServer:
        password_file = self.folder / "password"
        password_file.write_text(PASSWORD)
        if self.as_user:
            shutil.chown(self.folder, "postgres")
            shutil.chown(password_file, "postgres")
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, "--pwfile",
            str(password_file), "--auth-local=trust", "--auth-host=scram-sha-256",
            "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.folder} -c fsync=off -c max_connections=200"
        )
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.folder / "server.log"), "-o", options, "-w", "start")  # fmt: skip
        return self

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                      "stop")  # fmt: skip
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str, *, password: bool = True) -> str:
        secret = f":{PASSWORD}" if password else ""
        return f"postgresql://{USER}{secret}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh empty database; its address (with the password)."""
        name = f"test_{os.getpid()}_{next(_numbers)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
