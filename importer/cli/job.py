"""``watch`` (the scheduled job on an inbox) and ``status`` (where missions stand in Ocean)."""

from __future__ import annotations

from pathlib import Path

import click

from importer.cli.options import (
    Localised,
    Output,
    concurrency_option,
    import_options,
    output_options,
    path_option,
    settings_options,
    started_options,
    state_option,
    valued,
)
from importer.config import (
    DEFAULT_INTERVAL_SECONDS,
    DEFAULT_SETTLE_SECONDS,
    ImportOptions,
    Settings,
)
from importer.errors import EXIT_OK, EXIT_PROBLEMS, UsageError
from importer.i18n import N_, _, lazy


@click.command(
    cls=Localised,
    help=lazy(
        "The scheduled job: import each planning file dropped in INBOX, once.\n\n"
        "Imported files go to INBOX/archive/YYYY-MM-DD/ with their results workbook; files that "
        "cannot be read go to INBOX/failed/ with a NAME.error.txt. A file whose content was "
        "imported before is archived without a call; a run that stops early (Ocean unreachable, "
        "the mass-delete guard) leaves its file in the inbox for the next pass. Several jobs "
        "(one per host) may work on one inbox through one shared state store: each file is "
        "taken by one of them.\n\n"
        "With --once: exit 0 when every file went through, 1 when some had invalid rows, failed "
        "changes or could not be read, 3 when a run stopped early, another run kept a file's "
        "feed too long or the inbox is bound to another state store. "
        "Without --once: runs until SIGTERM or Ctrl-C, stopping between files."
    ),
)
@click.argument("inbox", type=click.Path(path_type=Path, file_okay=False))
@click.option("--once", is_flag=True, help=N_("Process what is there, then exit (for a timer)."))
@valued(
    "--interval",
    click.FloatRange(min=0.1),
    DEFAULT_INTERVAL_SECONDS,
    N_("Seconds between two looks at the inbox (without --once)."),
)
@valued(
    "--settle",
    click.FloatRange(min=0),
    DEFAULT_SETTLE_SECONDS,
    N_("A file is taken once unchanged for this many seconds (still being copied otherwise)."),
)
@concurrency_option
@import_options
@started_options
@settings_options(ca_bundle=True)
@output_options(default_verbosity=1)
def watch(
    inbox: Path,
    once: bool,
    interval: float,
    settle: float,
    options: ImportOptions,
    state_path: str | None,
    settings: Settings,
    output: Output,
) -> int:
    if not inbox.is_dir():
        raise UsageError(_("the inbox {inbox} is not a folder").format(inbox=inbox))
    from importer.cli.render import echo_json
    from importer.pipeline import check_connection_settings, open_state
    from importer.watch import Watcher, bind_inbox, job_exit_code

    check_connection_settings(settings)  # a missing connection setting: say so now
    with open_state(state_path or settings.state) as state:
        bind_inbox(inbox, state)
        watcher = Watcher(inbox, settings, state, options, settle=settle,
                          fixed_feed=not options.feed_from_name)  # fmt: skip
        if not once:
            return watcher.loop(interval)
        results = watcher.pass_once()
    if output.as_json:
        echo_json([vars(r) for r in results])
    return job_exit_code(results)


@click.command(
    cls=Localised,
    help=lazy(
        "Fetch from Ocean where missions stand: the given IDMISSIONs, or every active mission the "
        "state knows. Stores them in the state; refused missions stand out.\n\n"
        "Exit 0 when every status was fetched, 1 when Ocean does not know some missions, 3 when "
        "Ocean could not be reached or refused the login."
    ),
)
@click.argument("ids", nargs=-1)
@path_option("--report", "report_path", N_("Also write the statuses to this workbook."))
@concurrency_option
@state_option
@settings_options(ca_bundle=True)
@output_options()
def status(
    ids: tuple[str, ...],
    report_path: Path | None,
    concurrency: int,
    state_path: str | None,
    settings: Settings,
    output: Output,
) -> int:
    from importer.alerts import Alerts
    from importer.cli.render import show_statuses
    from importer.pipeline import mission_statuses, open_state
    from importer.report import check_writable

    if report_path:
        check_writable(report_path)
    with open_state(state_path or settings.state) as state:
        table, written = mission_statuses(settings, state, list(ids), concurrency=concurrency,
                                          report_path=report_path)  # fmt: skip
        alerts = Alerts(settings, state)
        for mission in table[table["refused"].astype(bool)].to_dict(orient="records"):
            reason = mission["commentRefuseReason"] or mission["status"] or ""
            alerts.track(f"refused {mission['customerId']} {mission['idMission']}", True,
                         _("the mission {id}").format(id=mission["idMission"]),
                         _("refused by its driver: {reason}").format(reason=reason))  # fmt: skip
    show_statuses(table, written, output)
    return EXIT_PROBLEMS if table["status"].isna().any() else EXIT_OK
