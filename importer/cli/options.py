"""The options every command shares, declared once: each decorator adds its flags and hands
the command the object they build (``settings``, ``output``, ``options``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import wraps
from pathlib import Path
from typing import Any

import click

from importer.cli.frame import LANG_OPTION, Framed
from importer.config import (
    DEFAULT_CONCURRENCY,
    SCOPES,
    Guard,
    ImportOptions,
    Settings,
    load_settings,
)
from importer.errors import UsageError
from importer.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, _, use
from importer.logs import FORMATS, configure_logging

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


@dataclass(frozen=True)
class Output:
    """How a command prints: a summary for people (``quiet``: one line), or JSON."""

    as_json: bool = False
    quiet: bool = False


def valued(flag: str, kind: Any, default: object, help: str, *, shown: bool = True) -> Decorator:
    """An option that takes a value, with its default (shown in ``--help``)."""
    return click.option(flag, type=kind, default=default, show_default=shown, help=help)


def path_option(flag: str, dest: str, help: str, **path: Any) -> Decorator:
    """An option that names a file (None when not given)."""
    return click.option(flag, dest, type=click.Path(path_type=Path, **path), default=None,
                        help=help)  # fmt: skip


log_format_option = click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    default="human",
    help=N_("Logs on stderr for people, or one JSON object per line for machines."),
)
config_option = path_option(
    "--config", "config_file", N_("TOML configuration file (also OCEAN_IMPORT_CONFIG).")
)
concurrency_option = valued(
    "--concurrency",
    click.IntRange(1, 64),
    DEFAULT_CONCURRENCY,
    N_("Calls to Ocean in flight at once, at most: fewer when Ocean slows down or limits them."),
)
state_option = click.option(
    "--state",
    "state_path",
    metavar="STORE",
    default=None,
    help=N_(
        "State store: a file (default .ocean-import/state.db) or a postgresql://user@host/db "
        "address (also [state] url, OCEAN_IMPORT_STATE)."
    ),
)


def apply_options(options: Sequence[Any], command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(options):
        command = option(command)
    return command


def settings_options(*, ca_bundle: bool = False) -> Decorator:
    """``--config --sheet --timezone --customer-id`` (and ``--ca-bundle``): ``settings``."""
    flags = [
        config_option,
        click.option(
            "--sheet", default=None, help=N_("Sheet to read (default: the first non-empty).")
        ),
        click.option(
            "--timezone",
            default=None,
            help=N_("IANA time zone of the planning's times (default Europe/Paris)."),
        ),
        click.option(
            "--customer-id",
            type=int,
            default=None,
            help=N_("Ocean customerId for rows without one (also OCEAN_CUSTOMER_ID)."),
        ),
    ]
    if ca_bundle:
        flags.append(
            path_option(
                "--ca-bundle",
                "ca_bundle",
                N_(
                    "Also trust this CA bundle for Ocean's TLS certificate (a company proxy); "
                    "TLS is always verified (also [ocean] ca_bundle, OCEAN_CA_BUNDLE)."
                ),
                dir_okay=False,
            )
        )

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(command)
        def with_settings(
            *args: Any, config_file: Path | None, sheet: str | None, timezone: str | None,
            customer_id: int | None, **kwargs: Any,
        ) -> Any:  # fmt: skip
            bundle = kwargs.pop("ca_bundle", None)
            kwargs["settings"] = load(
                config_file, sheet=sheet, timezone=timezone, customer_id=customer_id,
                ca_bundle=str(bundle) if bundle else None,
            )  # fmt: skip
            return command(*args, **kwargs)

        return apply_options(flags, with_settings)

    return decorate


def load(config_file: Path | None, **flags: Any) -> Settings:
    """The settings: flags over the environment over the file (``--config`` or
    ``OCEAN_IMPORT_CONFIG``) over the defaults; from now on, the command speaks their
    language (``--lang``, ``OCEAN_IMPORT_LANG``, ``[ui] lang``)."""
    if config_file is None and os.environ.get("OCEAN_IMPORT_CONFIG"):
        config_file = Path(os.environ["OCEAN_IMPORT_CONFIG"])
    context = click.get_current_context(silent=True)
    lang = context.meta.get("lang") if context else None
    settings = load_settings(config_file, os.environ, lang=lang, **flags)
    use(settings.lang)
    return settings


class Localised(Framed):
    """A command that speaks ``--lang`` (else ``OCEAN_IMPORT_LANG``, else the configuration's
    ``[ui] lang``, else French): every command is one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(
            click.Option(
                ["--lang"],
                type=click.Choice(LANGUAGES),
                default=None,
                help=LANG_OPTION,
            )
        )

    def invoke(self, ctx: click.Context) -> Any:
        flag = ctx.params.pop("lang", None)
        ctx.meta["lang"] = flag  # over the environment and the file, when the settings load
        use(flag or os.environ.get("OCEAN_IMPORT_LANG") or DEFAULT_LANGUAGE)
        return super().invoke(ctx)


def output_options(*, default_verbosity: int = 0) -> Decorator:
    """``--json -v --log-format -q``: logging configured, and ``output``."""
    flags = [
        click.option(
            "--json",
            "as_json",
            is_flag=True,
            help=N_("Print a machine-readable summary on stdout."),
        ),
        click.option("-v", "--verbose", count=True, help=N_("More log output.")),
        log_format_option,
        click.option("-q", "--quiet", is_flag=True, help=N_("Only the one-line summary.")),
    ]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(command)
        def with_output(*args: Any, as_json: bool, verbose: int, log_format: str, quiet: bool,
                        **kwargs: Any) -> Any:  # fmt: skip
            verbosity = max(verbose, 0 if quiet else default_verbosity)
            configure_logging(verbosity, quiet, log_format)
            return command(*args, output=Output(as_json, quiet), **kwargs)

        return apply_options(flags, with_output)

    return decorate


def import_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--feed --scope --delete-past --no-delete --allow-mass-delete --state``: ``options``
    (with ``--concurrency`` when the command has it) and ``state_path``."""
    flags = [
        click.option(
            "--feed", default=None, help=N_("Planning stream name (default: from the file name).")
        ),
        valued(
            "--scope",
            click.Choice(SCOPES),
            None,
            N_(
                "days: the file speaks for the days it covers; range: for every day from its "
                "first to its last; feed: for its whole feed (default: the configuration's, "
                "else days)."
            ),
            shown=False,
        ),
        click.option(
            "--delete-past", is_flag=True, help=N_("Also delete absent missions already past.")
        ),
        click.option("--no-delete", is_flag=True, help=N_("Never delete: only create and modify.")),
        click.option(
            "--allow-mass-delete", is_flag=True, help=N_("Override the mass-delete guard.")
        ),
        click.option(
            "--refresh",
            "drift",
            is_flag=True,
            help=N_(
                "First ask Ocean about every mission the state believes it holds in the file's "
                "scope: one deleted in Ocean is created again."
            ),
        ),
        state_option,
    ]

    @wraps(command)
    def with_options(*args: Any, feed: str | None, scope: Any, delete_past: bool,
                     no_delete: bool, allow_mass_delete: bool, drift: bool,
                     **kwargs: Any) -> Any:  # fmt: skip
        kwargs["options"] = ImportOptions(
            feed=feed or "",  # from the file's name when not given (feeds.with_feed)
            feed_from_name=feed is None,
            scope=scope,
            delete_past=delete_past,
            guard=Guard(allow=allow_mass_delete, never_delete=no_delete),
            concurrency=kwargs.pop("concurrency", DEFAULT_CONCURRENCY),
            drift=drift,
        )
        return command(*args, **kwargs)

    return apply_options(flags, with_options)


def started_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--no-refresh --allow-started`` (under ``import_options``): whether the missions the
    driver has in hand are protected."""

    @wraps(command)
    def with_protection(*args: Any, options: ImportOptions, no_refresh: bool,
                        allow_started: bool, **kwargs: Any) -> Any:  # fmt: skip
        options = replace(options, protect_started=not no_refresh, allow_started=allow_started)
        return command(*args, options=options, **kwargs)

    return apply_options(
        [
            click.option(
                "--no-refresh",
                is_flag=True,
                help=N_(
                    "Do not ask Ocean where the missions to modify or delete stand (they are "
                    "then not protected)."
                ),
            ),
            click.option(
                "--allow-started",
                is_flag=True,
                help=N_(
                    "Also modify or delete the missions a driver has in hand (accepted, under "
                    "way, done)."
                ),
            ),
        ],
        with_protection,
    )


def report_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--report --no-report``: ``report_path`` (None with ``--no-report``) and ``no_report``."""
    return apply_options(
        [
            path_option(
                "--report",
                "report_path",
                N_("Where to write the workbook (default: next to the input)."),
            ),
            click.option("--no-report", is_flag=True, help=N_("Write no workbook.")),
        ],
        command,
    )


def check_outputs(source: Path, report: Path | None, out: Path | None = None) -> None:
    """Refuse before any work an output that would overwrite the planning or fail at the end."""
    for target, option in ((report, "--report"), (out, "--out")):
        if target is None:
            continue
        if target.resolve() == source.resolve():
            raise UsageError(
                _(
                    "the {option} file would overwrite the planning itself ({source}): choose "
                    "another {option} path"
                ).format(option=option, source=source)
            )
        from importer.report import check_writable

        check_writable(target, option)
