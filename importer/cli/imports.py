"""``validate``, ``plan`` and ``run``: one planning file, checked, planned or imported."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from pathlib import Path

import click

from importer.cli.options import (
    Localised,
    Output,
    check_outputs,
    concurrency_option,
    import_options,
    output_options,
    path_option,
    report_options,
    settings_options,
    started_options,
)
from importer.config import ImportOptions, Settings
from importer.errors import UsageError
from importer.i18n import N_, _, lazy
from importer.paths import default_report_path
from importer.words import counted

log = logging.getLogger("importer")


def _target(file: Path, command: str, report_path: Path | None, no_report: bool) -> Path | None:
    return None if no_report else (report_path or default_report_path(file, command))


@click.command(
    cls=Localised,
    help=lazy(
        "Check every row of FILE and report every problem; Ocean is not contacted.\n\n"
        "Exit 0 when every row is valid (warnings allowed), 1 when some rows are invalid, 2 when "
        "the file cannot be used at all."
    ),
)
@click.argument("file", type=click.Path(path_type=Path))
@report_options
@click.option(
    "--feed", default=None, help=N_("Planning stream name (default: from the file name).")
)
@settings_options()
@output_options()
def validate(
    file: Path,
    report_path: Path | None,
    no_report: bool,
    feed: str | None,
    settings: Settings,
    output: Output,
) -> int:
    target = _target(file, "validate", report_path, no_report)
    check_outputs(file, target)
    from importer.cli.render import show_validation
    from importer.pipeline import validate_file

    run, written = validate_file(file, settings, feed=feed, report_path=target)
    show_validation(run, written, output)
    return run.exit_code


@click.command(
    cls=Localised,
    help=lazy(
        "Show what `run` would do with FILE: the creates, modifies and deletes. No network.\n\n"
        "Writes the plan workbook (every row with its planned action, the fields that differ) "
        "and, with --out, the exact plan for `run --plan` to apply."
    ),
)
@click.argument("file", type=click.Path(path_type=Path))
@report_options
@path_option(
    "--out", "out_path", N_("Save the exact plan as JSON, to apply later with `run --plan`.")
)
@import_options
@settings_options()
@output_options()
def plan(
    file: Path,
    report_path: Path | None,
    no_report: bool,
    out_path: Path | None,
    options: ImportOptions,
    state_path: str | None,
    settings: Settings,
    output: Output,
) -> int:
    target = _target(file, "plan", report_path, no_report)
    check_outputs(file, target, out_path)
    return _plan(file, settings, options, state_path, target, out_path, output)


def _plan(
    file: Path,
    settings: Settings,
    options: ImportOptions,
    state_path: str | None,
    target: Path | None,
    out_path: Path | None,
    output: Output,
) -> int:
    """`plan`, and `run --dry-run`, which is the same thing."""
    from importer.cli.render import show_import
    from importer.pipeline import open_state, plan_file

    with open_state(state_path or settings.state) as state:
        run, written = plan_file(
            file, settings, state, options, report_path=target, out_path=out_path
        )
    summary = run.summary(written, out_path)
    log.info(
        _("planned %s: %s"),
        file.name,
        ", ".join(
            [counted("action", action, n) for action, n in summary.actions.items()]
            + [counted("outcome", outcome, n) for outcome, n in summary.outcomes.items()]
        ),
        extra={"event": "planned", **summary.log_fields()},
    )
    show_import(run, written, output, out_path)
    return run.exit_code


@click.command(
    cls=Localised,
    help=lazy(
        "Import FILE into Ocean: validate, work out the changes, push them, write the results.\n\n"
        "Exit 0 when every row is valid and every change applied; 1 when some rows are invalid or "
        "some changes failed (see the results workbook); 2 when nothing was done (bad file, bad "
        "configuration); 3 when the run stopped early (login refused, Ocean unreachable, the "
        "mass-delete guard, another run holding the state, Ctrl-C): the next run picks up."
    ),
)
@click.argument("file", type=click.Path(path_type=Path))
@report_options
@click.option("--dry-run", is_flag=True, help=N_("Only show the plan (the same as `plan`)."))
@path_option(
    "--plan",
    "plan_path",
    N_("Apply exactly this saved plan (refused if the file or the state changed since)."),
)
@concurrency_option
@click.option(
    "--refresh-status",
    is_flag=True,
    help=N_("After the push, fetch every mission's status into the results workbook."),
)
@click.option(
    "--sandbox",
    "use_sandbox",
    is_flag=True,
    help=N_(
        "Import into a sandbox started for this run (a demo: nothing leaves the machine; "
        "the state is a throwaway one unless --state is given)."
    ),
)
@import_options
@started_options
@settings_options(ca_bundle=True)
@output_options()
def run(
    file: Path,
    report_path: Path | None,
    no_report: bool,
    dry_run: bool,
    plan_path: Path | None,
    refresh_status: bool,
    use_sandbox: bool,
    options: ImportOptions,
    state_path: str | None,
    settings: Settings,
    output: Output,
) -> int:
    from importer.cli.render import progress, show_import
    from importer.cli.serving import demo_sandbox
    from importer.pipeline import import_file, open_state

    if dry_run:
        given = {"--plan": plan_path, "--sandbox": use_sandbox, "--refresh-status": refresh_status}
        if clashing := [flag for flag, value in given.items() if value]:
            raise UsageError(
                _(
                    "--dry-run only shows the plan, Ocean not contacted: it cannot go with "
                    "{flags} (use `ocean-import plan` to review, then `run`)"
                ).format(flags=_(" or ").join(clashing))
            )
    target = _target(file, "plan" if dry_run else "run", report_path, no_report)
    check_outputs(file, target)
    if dry_run:
        return _plan(file, settings, replace(options, dry_run=True), state_path, target, None,
                     output)  # fmt: skip
    with contextlib.ExitStack() as stack:
        if use_sandbox:
            settings = stack.enter_context(demo_sandbox(settings))
            state_path = state_path or ":memory:"  # a sandbox never writes in the real store
        state = stack.enter_context(open_state(state_path or settings.state))
        result, written = import_file(
            file,
            settings,
            state,
            options,
            report_path=target,
            saved_plan=plan_path,
            progress=lambda total: progress(total, output.quiet or output.as_json),
            refresh_status=refresh_status,
        )
    show_import(result, written, output, None)
    if result.stopped:
        # Where schedulers look (a journal, a cron mail): the reason of an exit 3, in one line.
        click.echo(_("ocean-import: stopped: {reason}").format(reason=result.stopped), err=True)
    return result.exit_code
