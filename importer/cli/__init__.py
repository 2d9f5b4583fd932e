"""The ``ocean-import`` command: each command parses its options, calls one pipeline
function, and prints what it returns. Exit codes are handled here, once for all."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from importer import __version__
from importer.cli import frame
from importer.cli.history import history, undo
from importer.cli.imports import plan, run, validate
from importer.cli.job import status, watch
from importer.cli.serving import hash_password_command, sandbox, serve
from importer.cli.stores import state
from importer.errors import OceanImportError
from importer.i18n import LANGUAGES, _, lazy


class _Commands(frame.Framed, click.Group):
    """A command's return value is the exit code; the library's errors become one sentence
    on stderr and the error's own exit code (never a traceback); a mistyped line, one
    sentence in the reader's language (``frame``)."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:  # fmt: skip
        arguments = list(sys.argv[1:] if args is None else args)
        frame.speak_as_asked(arguments)
        if not standalone_mode:
            return super().main(arguments, prog_name, complete_var, False, **extra)
        try:
            code = super().main(arguments, prog_name, complete_var, False, **extra)
        except click.ClickException as error:
            frame.usage_error(error)
        except click.exceptions.Abort:
            click.echo(_("Interrupted."), err=True)
            sys.exit(1)
        sys.exit(code or 0)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_options(ctx, formatter)  # Framed's: the options, in the reader's words
        frame.format_commands(self, ctx, formatter)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            code = super().invoke(ctx)
        except OceanImportError as exc:
            click.echo(f"ocean-import: {exc}", err=True)
            ctx.exit(exc.exit_code)
        ctx.exit(code or 0)


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"]},
    help=lazy(
        "Keep Ocean's in-cab missions in step with a planning spreadsheet.\n\n"
        "Exit codes: 0 all good; 1 finished, but some rows are invalid or some changes "
        "failed; 2 nothing was done (bad usage, unreadable file, bad configuration); 3 the "
        "run stopped before the end."
    ),
)
@click.version_option(__version__, prog_name="ocean-import", help=frame.VERSION_OPTION)
@click.option(
    "--lang",
    type=click.Choice(LANGUAGES),
    expose_value=False,  # read before the line is parsed (frame.speak_as_asked)
    help=frame.LANG_OPTION,
)
def main() -> None:
    """The group of every command (its help is the ``help`` above, in the catalog)."""


for command in (validate, plan, run, watch, status, history, undo, state, serve,
                hash_password_command, sandbox):  # fmt: skip
    main.add_command(command)

__all__ = ["console", "leave", "main"]


def console() -> None:
    """The process's entry point (``ocean-import``, ``python -m importer``): the command, then
    its exit without the interpreter's teardown (``leave``). Tests call ``main`` itself."""
    try:
        main()
    except SystemExit as done:
        leave(done.code if done.code is None or isinstance(done.code, int) else str(done.code))


def leave(code: str | int | None) -> NoReturn:
    """Exit as ``sys.exit(code)`` would, without freeing every object one by one: with
    pandas, numpy and pandera loaded that teardown is a noticeable part of a short command,
    after its work was done and said. What the teardown does that matters still happens: the exit
    functions (logging's flush, multiprocessing's children, temporary folders) and the
    standard streams flushed; every file the commands write is closed (or renamed into place)
    before they return. With other threads still running, the usual exit (which waits for
    them)."""
    if threading.active_count() > 1:
        sys.exit(code)
    if not isinstance(code, str):
        status = code or 0
    else:  # sys.exit("a sentence"): said on stderr, exit 1
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(status)
