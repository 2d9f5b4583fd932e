"""``state migrate`` (bring a store's schema up to this version) and ``state copy`` (move a
site from one store to another: SQLite to PostgreSQL, without losing a mission)."""

from __future__ import annotations

import click

from importer.cli.frame import Framed, format_commands
from importer.cli.options import Localised, Output, output_options, settings_options, state_option
from importer.config import Settings
from importer.errors import EXIT_OK, UsageError
from importer.i18n import _, lazy, ngettext, number


class _StateCommands(Framed, click.Group):
    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_options(ctx, formatter)
        format_commands(self, ctx, formatter)


@click.group(
    "state",
    cls=_StateCommands,
    help=lazy("The state store: bring its schema up to date, or copy it into another store."),
)
def state() -> None:
    """The group of the store's commands (its help is the ``help`` above)."""


@state.command(
    "migrate",
    cls=Localised,
    help=lazy(
        "Bring the state store's schema up to this version of ocean-import (every run does it "
        "too when it opens the store; this does it once, before the hosts are upgraded). "
        "Nothing else is changed."
    ),
)
@state_option
@settings_options()
@output_options()
def migrate(state_path: str | None, settings: Settings, output: Output) -> int:
    from importer.cli.render import echo_json
    from importer.pipeline import open_state, shown_address

    address = state_path or settings.state
    with open_state(address) as store:
        before, now = store.migrated_from, store.schema_version()
    if output.as_json:
        echo_json({"state": shown_address(address), "schema": now, "migrated_from": before})
    elif before is None:
        click.echo(
            _("{store}: schema {version}, already up to date").format(
                store=shown_address(address), version=now
            )
        )
    else:
        click.echo(
            _("{store}: schema {version} (migrated from {before})").format(
                store=shown_address(address), version=now, before=before
            )
        )
    return EXIT_OK


@state.command(
    "copy",
    cls=Localised,
    help=lazy(
        "Copy every mission, run and outcome of the store SOURCE into the store TARGET, which "
        "must be empty (a file path, or a postgresql:// address): to move a site to "
        "PostgreSQL. Stop the jobs and the page first; point them at TARGET after."
    ),
)
@click.argument("source", metavar="SOURCE")
@click.argument("target", metavar="TARGET")
@output_options()
def copy(source: str, target: str, output: Output) -> int:
    from importer.cli.render import echo_json
    from importer.pipeline import copy_state, open_state, shown_address

    if shown_address(source) == shown_address(target):
        raise UsageError(_("SOURCE and TARGET are the same store: nothing to copy"))
    with open_state(source) as origin, open_state(target) as destination:
        copied = copy_state(origin, destination)
    if output.as_json:
        echo_json({"source": shown_address(source), "target": shown_address(target),
                   "copied": copied})  # fmt: skip
        return EXIT_OK
    forms = [
        (ngettext("{n} mission", "{n} missions", copied["missions"]), copied["missions"]),
        (ngettext("{n} run", "{n} runs", copied["runs"]), copied["runs"]),
        (ngettext("{n} row outcome", "{n} row outcomes", copied["outcomes"]), copied["outcomes"]),
    ]
    counts = ", ".join(form.format(n=number(n)) for form, n in forms)
    click.echo(
        _("copied {source} into {target}: {counts}").format(
            source=shown_address(source), target=shown_address(target), counts=counts
        )
    )
    return EXIT_OK
