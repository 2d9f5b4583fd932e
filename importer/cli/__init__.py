"""The ``ocean-import`` command: each command parses its options, calls one pipeline
function, and prints what it returns. Exit codes are handled here, once for all."""

from __future__ import annotations

from typing import Any

import click

from importer import __version__
from importer.cli.imports import plan, run, validate
from importer.cli.job import status, watch
from importer.cli.serving import hash_password_command, sandbox, serve
from importer.errors import OceanImportError


class _Commands(click.Group):
    """A command's return value is the exit code; the library's errors become one sentence
    on stderr and the error's own exit code (never a traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            code = super().invoke(ctx)
        except OceanImportError as exc:
            click.echo(f"ocean-import: {exc}", err=True)
            ctx.exit(exc.exit_code)
        ctx.exit(code or 0)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ocean-import")
def main() -> None:
    """Keep Ocean's in-cab missions in step with a planning spreadsheet.

    Exit codes: 0 all good; 1 finished, but some rows are invalid or some changes failed;
    2 nothing was done (bad usage, unreadable file, bad configuration); 3 the run stopped
    before the end.
    """


for command in (validate, plan, run, watch, status, serve, hash_password_command, sandbox):
    main.add_command(command)

__all__ = ["main"]
