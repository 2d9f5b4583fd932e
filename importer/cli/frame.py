"""The command line's own words, in the reader's language: ``--help`` (its headings, the
options' helps, their defaults) and the sentences of a mistyped command.

Click writes these in English from its own strings; here the same help and errors are
written through the catalog instead. Option helps are marked ``N_`` (click freezes a help
string when the option is declared, before the language is known) and translated when
``--help`` prints them; command helps are ``lazy``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from importer.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, _, pgettext, use

HELP_OPTION = N_("Show this message and exit.")
VERSION_OPTION = N_("Show the version and exit.")
LANG_OPTION = N_("Language of what it prints and writes (also OCEAN_IMPORT_LANG).")


def speak_as_asked(args: Sequence[str]) -> None:
    """The language of the help and of the usage errors: ``--lang`` wherever it is on the
    line (it must hold before the line is parsed), else ``OCEAN_IMPORT_LANG``, else French.
    The configuration's ``[ui] lang`` takes over when a command loads its settings."""
    asked = None
    for position, arg in enumerate(args):
        if arg == "--lang" and position + 1 < len(args):
            asked = args[position + 1]
        elif arg.startswith("--lang="):
            asked = arg.partition("=")[2]
    if asked not in LANGUAGES:
        asked = os.environ.get("OCEAN_IMPORT_LANG") or DEFAULT_LANGUAGE
    use(asked)


def metavar(name: str) -> str:
    """The placeholder of a value in ``--help`` (``FILE``, ``PATH``...), in the reader's words."""
    words = {
        "FILE": pgettext("metavar", "FILE"),
        "PATH": pgettext("metavar", "PATH"),
        "TEXT": pgettext("metavar", "TEXT"),
        "INTEGER": pgettext("metavar", "INTEGER"),
        "INTEGER RANGE": pgettext("metavar", "INTEGER"),
        "FLOAT": pgettext("metavar", "NUMBER"),
        "DIRECTORY": pgettext("metavar", "FOLDER"),
        "INBOX": pgettext("metavar", "INBOX"),
        "STORE": pgettext("metavar", "STORE"),
        "RUN": pgettext("metavar", "RUN"),
        "SOURCE": pgettext("metavar", "SOURCE"),
        "TARGET": pgettext("metavar", "TARGET"),
        "IDS...": pgettext("metavar", "IDS..."),
        "[IDS]...": pgettext("metavar", "[IDS]..."),
        "[OPTIONS]": pgettext("metavar", "[OPTIONS]"),
        "COMMAND [ARGS]...": pgettext("metavar", "COMMAND [ARGS]..."),
    }
    return words.get(name, name)


class Framed(click.Command):
    """``--help`` in the reader's language (a command and the group alike)."""

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = HELP_OPTION
        return option

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return [metavar(piece) for piece in super().collect_usage_pieces(ctx)]

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        pieces = " ".join(self.collect_usage_pieces(ctx))
        formatter.write_usage(ctx.command_path, pieces, prefix=_("Usage:") + " ")

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [row for param in self.get_params(ctx) if (row := help_row(param, ctx))]
        if rows:
            # The heading's colon is added by click: French puts a space before it.
            with formatter.section(_("Options")):
                formatter.write_dl(rows)


def help_row(param: click.Parameter, ctx: click.Context) -> tuple[str, str] | None:
    """One option's line of ``--help``: its flags and value, its help, its default."""
    if not isinstance(param, click.Option) or param.hidden:
        return None
    spec, _english = param.get_help_record(ctx) or ("", "")
    value = param.make_metavar(ctx) if not param.is_flag and not param.count else ""
    if value:
        spec = spec.replace(value, metavar(value))
    text = _(param.help) if param.help else ""
    extra = param.get_help_extra(ctx)
    notes = []
    if "default" in extra:
        notes.append(_("default: {default}").format(default=extra["default"]))
    if "range" in extra:
        notes.append(extra["range"])
    if "required" in extra:
        notes.append(_("required"))
    if notes:
        text = f"{text}  [{_('; ').join(notes)}]"
    return spec, text


def format_commands(group: click.Group, ctx: click.Context, formatter: click.HelpFormatter) -> None:
    rows = []
    limit = formatter.width - 6 - max((len(name) for name in group.list_commands(ctx)), default=0)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is not None and not command.hidden:
            rows.append((name, command.get_short_help_str(limit)))
    if rows:
        with formatter.section(_("Commands")):
            formatter.write_dl(rows)


def usage_error(error: click.ClickException) -> NoReturn:
    """A mistyped command line: what is wrong in one sentence, and where the help is."""
    context = getattr(error, "ctx", None)
    prog = context.command_path if context is not None else "ocean-import"
    if context is not None and isinstance(error, click.UsageError):
        click.echo(context.get_usage(), err=True)
    click.echo(_("{prog}: {problem}").format(prog=prog, problem=_problem(error)), err=True)
    if isinstance(error, click.UsageError):
        hint = _("See “{prog} --help” for the options.").format(prog=prog)
        click.echo(hint, err=True)
    sys.exit(error.exit_code)


def _problem(error: click.ClickException) -> str:
    param = getattr(error, "param", None)
    name = _param_name(param) if param is not None else ""
    if isinstance(error, click.NoSuchOption):
        sentence = _("there is no option {option}").format(option=error.option_name)
        if error.possibilities:
            sentence += _(" (did you mean {options}?)").format(
                options=", ".join(sorted(error.possibilities))
            )
        return sentence
    if isinstance(error, click.MissingParameter):
        if isinstance(param, click.Argument):
            return _("{name} is missing: give it after the command").format(name=name)
        return _("the option {name} is required").format(name=name)
    if isinstance(error, click.BadOptionUsage):
        if "does not take a value" in error.message:
            return _("the option {option} takes no value").format(option=error.option_name)
        return _("the option {option} needs a value").format(option=error.option_name)
    if isinstance(error, click.BadParameter) and param is not None:
        expected = _expected(param)
        if expected:
            return _("invalid value for {name}: {expected}").format(name=name, expected=expected)
    message = error.format_message()
    if message.startswith("Got unexpected extra argument"):
        extra = message.partition("(")[2].rstrip(")")
        return _("unexpected extra arguments: {arguments}").format(arguments=extra)
    if message.startswith("No such command"):
        return _("there is no command {name}: see the list of commands with --help").format(
            name=message.partition(" command ")[2].rstrip(".")
        )
    return message  # click's own sentence, for a case it alone knows


def _param_name(param: click.Parameter) -> str:
    if isinstance(param, click.Argument):
        return metavar(param.human_readable_name)
    return "/".join(param.opts)


def _expected(param: click.Parameter) -> str | None:
    """What a value must be, from the option's type (the value itself is on the user's line)."""
    kind: Any = param.type
    if isinstance(kind, click.Choice):
        return _("choose one of {choices}").format(choices=", ".join(map(str, kind.choices)))
    if isinstance(kind, click.IntRange | click.FloatRange):
        low, high = kind.min, kind.max
        if low is not None and high is not None:
            return _("a number from {low} to {high}").format(low=low, high=high)
        if low is not None:
            return _("a number of at least {low}").format(low=low)
        return _("a number of at most {high}").format(high=high)
    if isinstance(kind, click.types.IntParamType):
        return _("a whole number")
    if isinstance(kind, click.types.FloatParamType):
        return _("a number")
    if isinstance(kind, click.Path):
        if not kind.file_okay:
            return _("an existing folder") if kind.exists else _("a folder, not a file")
        if not kind.dir_okay:
            return (
                _("an existing file (not a folder)") if kind.exists else _("a file, not a folder")
            )
        return _("an existing file or folder") if kind.exists else _("a path")
    return None
