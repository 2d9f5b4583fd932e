"""``history`` (the runs the state keeps: who, when, what) and ``undo RUN`` (put Ocean back as
it was before one of them)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import click

from importer.cli.options import (
    Localised,
    Output,
    concurrency_option,
    output_options,
    path_option,
    settings_options,
    state_option,
)
from importer.config import Guard, Settings
from importer.errors import EXIT_OK, UsageError
from importer.i18n import N_, _, lazy, moment, quoted
from importer.words import counted

if TYPE_CHECKING:
    from importer.undo import Undo

_ACTIONS = ("create", "modify", "delete")
_TROUBLE = ("failed", "unknown", "held", "not_attempted")


def _counts(counts: dict[str, int]) -> str:
    words = [counted("action", a, counts[f"action {a}"]) for a in _ACTIONS
             if counts.get(f"action {a}")]  # fmt: skip
    words += [counted("outcome", o, counts[f"outcome {o}"]) for o in _TROUBLE
              if counts.get(f"outcome {o}")]  # fmt: skip
    return ", ".join(words) or _("no change")


@click.command(
    cls=Localised,
    help=lazy(
        "The runs the state keeps, the latest first: their number (for undo), when, which "
        "command and who, the file, the feed, the exit code and what was done."
    ),
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=30, show_default=True,
              help=N_("How many runs, the latest first."))  # fmt: skip
@state_option
@settings_options()
@output_options()
def history(limit: int, state_path: str | None, settings: Settings, output: Output) -> int:
    from importer.cli.render import echo_json
    from importer.pipeline import history as latest_runs
    from importer.pipeline import open_state

    with open_state(state_path or settings.state) as state:
        runs = latest_runs(state, limit)
    if output.as_json:
        echo_json([dataclasses.asdict(run) for run in runs])
        return EXIT_OK
    if not runs:
        click.echo(_("no run yet"))
    for run in runs:
        when = moment(dt.datetime.fromisoformat(run.started_at))
        what = _("dry run") if run.dry_run else _counts(run.counts)
        exit_words = "…" if run.exit_code is None else str(run.exit_code)
        click.echo(
            _("{id:>5}  {when}  {command} ({actor})  {file}  feed {feed}  exit {exit}  {what}")
            .format(
                id=run.id, when=when, command=run.command, actor=run.actor or "?",
                file=Path(run.file).name if run.file else "-", feed=quoted(run.feed or "-"),
                exit=exit_words, what=what,
            )
        )  # fmt: skip
    return EXIT_OK


@click.command(
    cls=Localised,
    help=lazy(
        "Put Ocean back as it was before the run RUN (its number in ocean-import history): "
        "delete the missions it created, send back the previous version of those it modified, "
        "create again those it deleted. A mission a later run changed again is left alone and "
        "listed (--force to undo it anyway). The plan goes through the mass-delete guard and "
        "the protection of missions under way, as an import does.\n\n"
        "Exit 0 when all was undone, 1 when some missions were left alone or failed, 3 when it "
        "stopped early."
    ),
)
@click.argument("run_id", metavar="RUN", type=int)
@click.option("--dry-run", is_flag=True, help=N_("Show the plan only: Ocean is not contacted."))
@path_option("--out", "out_path", N_("Save the plan to this file, to review; send nothing."))
@path_option("--plan", "plan_path",
             N_("Apply exactly this saved plan (refused if the state changed since)."))  # fmt: skip
@click.option("--force", is_flag=True, help=N_("Undo the missions a later run changed again too."))
@click.option("--allow-mass-delete", is_flag=True, help=N_("Override the mass-delete guard."))
@click.option("--allow-started", is_flag=True,
              help=N_("Also change the missions a driver has in hand."))  # fmt: skip
@concurrency_option
@state_option
@settings_options(ca_bundle=True)
@output_options()
def undo(
    run_id: int, dry_run: bool, out_path: Path | None, plan_path: Path | None, force: bool,
    allow_mass_delete: bool, allow_started: bool, concurrency: int, state_path: str | None,
    settings: Settings, output: Output,
) -> int:  # fmt: skip
    from importer.pipeline import apply_undo, open_state, plan_undo, save_undo

    if dry_run and plan_path:
        raise UsageError(_("--dry-run only shows the plan: it cannot go with --plan"))
    with open_state(state_path or settings.state) as state:
        made = plan_undo(state, run_id, force=force, guard=Guard(allow=allow_mass_delete),
                         saved=plan_path)  # fmt: skip
        if out_path:
            save_undo(made, out_path)
        if dry_run or out_path:
            _show(made, output, saved=out_path)
            return EXIT_OK
        done = apply_undo(made, settings, state, allow_started=allow_started,
                          concurrency=concurrency)  # fmt: skip
    _show(done, output)
    return done.exit_code


def _show(undo: Undo, output: Output, saved: Path | None = None) -> None:
    from importer.cli.render import echo_json

    run = undo.run
    if output.as_json:
        echo_json({
            "undo_of_run": run.id, "run_id": undo.undo_run_id, "feed": run.feed,
            "counts": undo.counts(), "exit_code": undo.exit_code, "stopped": undo.stopped,
            "conflicts": [{"customer_id": c.key[0], "id_mission": c.key[1],
                           "changed_by_run": c.later_run} for c in undo.conflicts],
            "held": [o.id_mission for o in undo.held], "plan": str(saved) if saved else None,
        })  # fmt: skip
        return
    click.echo(
        _("undo of run {run} ({file}, feed {feed}, {when}): {counts}").format(
            run=run.id, file=Path(run.file).name if run.file else "-", feed=quoted(run.feed or ""),
            when=moment(dt.datetime.fromisoformat(run.started_at)), counts=_counts(undo.counts()),
        )
    )  # fmt: skip
    for conflict in undo.conflicts:
        by = (_("changed again by run {run}").format(run=conflict.later_run)
              if conflict.later_run else _("changed since"))  # fmt: skip
        click.echo("  " + _("mission {id}: {by}: left alone (--force to undo it anyway)").format(
            id=conflict.key[1], by=by))  # fmt: skip
    for held in undo.held:
        click.echo(f"  {held.id_mission}: {held.message}")
    for outcome in undo.outcomes or ():
        if outcome.outcome != "ok":
            click.echo(f"  {outcome.id_mission}: {outcome.outcome}: {outcome.message}")
    if saved:
        click.echo(_("plan saved to {path}: apply it with --plan").format(path=saved))
    elif undo.outcomes is None and not undo.stopped:
        click.echo(_("nothing sent (--dry-run)"))
    if undo.stopped:
        click.echo(_("ocean-import: stopped: {reason}").format(reason=undo.stopped), err=True)
