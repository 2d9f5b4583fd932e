"""The ``ocean-import`` command: parse options, call one library function, print."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from functools import wraps
from gettext import ngettext
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from importer import __version__
from importer.config import OceanSettings, Secret, Settings, load_settings
from importer.diff import ACTIONS, NO_CUSTOMER, SCOPES, Guard, Scope
from importer.errors import EXIT_OK, EXIT_PROBLEMS, ConfigError, OceanImportError, UsageError
from importer.logs import FORMATS, configure_logging
from importer.ocean import MissionStatus, OceanClient
from importer.pipeline import (
    ImportOptions,
    ImportRun,
    ValidationRun,
    check_file,
    default_feed,
    default_report_path,
    import_file,
    plan_file,
    validation_report,
)
from importer.problems import Problem
from importer.push import DEFAULT_CONCURRENCY, Outcome, fetch_statuses
from importer.report import check_writable, write_table
from importer.sandbox.world import (
    DEFAULT_CUSTOMERS,
    DEFAULT_HOST,
    DEFAULT_LOGIN,
    DEFAULT_PASSWORD,
    DEFAULT_PORT,
    ECHO_STYLES,
    FAILURE_KINDS,
    Account,
    Faults,
    World,
)
from importer.schemas.api import API_DATE_FORMAT
from importer.state import DEFAULT_STATE_PATH, StateStore, open_state
from importer.validate import KINDS, problems_by_kind
from importer.watch import (
    DEFAULT_INTERVAL_SECONDS,
    DEFAULT_SETTLE_SECONDS,
    Watcher,
    inbox_lock,
    job_exit_code,
)

if TYPE_CHECKING:
    from importer.sandbox.server import SandboxServer

EXAMPLES_PER_KIND = 5
log = logging.getLogger("importer")


_log_format_option = click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    default="human",
    help="Logs on stderr for people, or one JSON object per line for machines.",
)


def _common_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--config",
            "config_file",
            type=click.Path(path_type=Path),
            default=None,
            help="TOML configuration file (also OCEAN_IMPORT_CONFIG).",
        ),
        click.option("--sheet", default=None, help="Sheet to read (default: the first non-empty)."),
        click.option(
            "--timezone", default=None, help="IANA time zone of the planning's times (default UTC)."
        ),
        click.option(
            "--customer-id",
            type=int,
            default=None,
            help="Ocean customerId for rows without one (also OCEAN_CUSTOMER_ID).",
        ),
        click.option(
            "--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout."
        ),
        click.option("-v", "--verbose", count=True, help="More log output."),
        _log_format_option,
        click.option("-q", "--quiet", is_flag=True, help="Only the one-line summary."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _report_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--no-report", is_flag=True, help="Write no workbook.")(command)
    return click.option(
        "--report",
        "report_path",
        type=click.Path(path_type=Path),
        default=None,
        help="Where to write the workbook (default: next to the input).",
    )(command)


def _friendly_errors(command: Callable[..., int]) -> Callable[..., None]:
    """Turn the library's errors into one sentence on stderr and the error's exit code."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            code = command(*args, **kwargs)
        except OceanImportError as exc:
            click.echo(f"ocean-import: {exc}", err=True)
            sys.exit(exc.exit_code)
        sys.exit(code)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ocean-import")
def main() -> None:
    """Keep Ocean's in-cab missions in step with a planning spreadsheet.

    Exit codes: 0 all good; 1 finished, but some rows are invalid or some changes failed;
    2 nothing was done (bad usage, unreadable file, bad configuration); 3 the run stopped
    before the end.
    """


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@_report_options
@click.option("--feed", default=None, help="Planning stream name (default: from the file name).")
@_common_options
@_friendly_errors
def validate(
    file: Path,
    report_path: Path | None,
    no_report: bool,
    feed: str | None,
    config_file: Path | None,
    sheet: str | None,
    timezone: str | None,
    customer_id: int | None,
    as_json: bool,
    verbose: int,
    log_format: str,
    quiet: bool,
) -> int:
    """Check every row of FILE and report every problem; Ocean is not contacted.

    Exit 0 when every row is valid (warnings allowed), 1 when some rows are invalid,
    2 when the file cannot be used at all.
    """
    configure_logging(verbose, quiet, log_format)
    settings = _settings(config_file, sheet=sheet, timezone=timezone, customer_id=customer_id)
    target = None if no_report else (report_path or default_report_path(file, "validate"))
    _check_outputs(file, target)
    started = dt.datetime.now(dt.UTC)
    checked = check_file(file, settings)
    run = ValidationRun(checked, feed or default_feed(file), started, dt.datetime.now(dt.UTC))
    written = validation_report(run, target) if target else None
    code = EXIT_PROBLEMS if checked.invalid_count else EXIT_OK
    if as_json:
        click.echo(json.dumps(_validation_json(run, written, code), ensure_ascii=False, indent=2))
    else:
        _print_validation(run, written, quiet)
    return code


_concurrency_option = click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    help="Calls to Ocean in flight at once.",
)
_ca_bundle_option = click.option(
    "--ca-bundle",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also trust this CA bundle for Ocean's TLS certificate (a company proxy); "
    "TLS is always verified (also [ocean] ca_bundle, OCEAN_CA_BUNDLE).",
)
_state_option = click.option(
    "--state",
    "state_path",
    type=click.Path(path_type=Path),
    default=None,
    help=f"State store (default {DEFAULT_STATE_PATH}; one run at a time).",
)


def _import_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--feed", default=None, help="Planning stream name (default: from the file name)."
        ),
        click.option(
            "--scope",
            type=click.Choice(SCOPES),
            default="days",
            show_default=True,
            help="days: the file speaks for the days it covers; feed: for its whole feed.",
        ),
        click.option(
            "--delete-past", is_flag=True, help="Also delete absent missions already past."
        ),
        click.option("--no-delete", is_flag=True, help="Never delete: only create and modify."),
        click.option("--allow-mass-delete", is_flag=True, help="Override the mass-delete guard."),
        _state_option,
    ]
    for option in reversed(options):
        command = option(command)
    return command


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@_report_options
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Save the exact plan as JSON, to apply later with `run --plan`.",
)
@_import_options
@_common_options
@_friendly_errors
def plan(
    file: Path,
    report_path: Path | None,
    no_report: bool,
    out_path: Path | None,
    feed: str | None,
    scope: Scope,
    delete_past: bool,
    no_delete: bool,
    allow_mass_delete: bool,
    state_path: Path | None,
    config_file: Path | None,
    sheet: str | None,
    timezone: str | None,
    customer_id: int | None,
    as_json: bool,
    verbose: int,
    log_format: str,
    quiet: bool,
) -> int:
    """Show what `run` would do with FILE: the creates, modifies and deletes. No network.

    Writes the plan workbook (every row with its planned action, the fields that differ)
    and, with --out, the exact plan for `run --plan` to apply.
    """
    configure_logging(verbose, quiet, log_format)
    settings = _settings(config_file, sheet=sheet, timezone=timezone, customer_id=customer_id)
    target = None if no_report else (report_path or default_report_path(file, "plan"))
    _check_outputs(file, target, out_path)
    options = _options(file, feed, scope, delete_past, no_delete, allow_mass_delete, dry_run=True)
    return _plan(file, settings, options, state_path, target, out_path, as_json, quiet)


def _plan(
    file: Path,
    settings: Settings,
    options: ImportOptions,
    state_path: Path | None,
    target: Path | None,
    out_path: Path | None,
    as_json: bool,
    quiet: bool,
) -> int:
    """`plan`, and `run --dry-run`, which is the same thing."""
    with open_state(state_path) as state:
        run, written = plan_file(
            file, settings, state, options, report_path=target, out_path=out_path
        )
    counts = run.counts()
    log.info(
        "planned %s: %s",
        file.name,
        ", ".join(f"{n} {what}" for what, n in sorted(counts.items())),
        extra={"event": "planned", "file": str(file), "feed": run.plan.feed, "counts": counts,
               "exit_code": run.exit_code},
    )  # fmt: skip
    _show_import(run, written, as_json, quiet, out_path)
    return run.exit_code


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@_report_options
@click.option("--dry-run", is_flag=True, help="Only show the plan (the same as `plan`).")
@click.option(
    "--plan",
    "plan_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Apply exactly this saved plan (refused if the file or the state changed since).",
)
@_concurrency_option
@_ca_bundle_option
@click.option(
    "--refresh-status",
    is_flag=True,
    help="After the push, fetch every mission's status into the results workbook.",
)
@click.option(
    "--sandbox",
    "use_sandbox",
    is_flag=True,
    help="Import into a sandbox started for this run (a demo: nothing leaves the machine; "
    "the state is a throwaway one unless --state is given).",
)
@_import_options
@_common_options
@_friendly_errors
def run(
    file: Path,
    report_path: Path | None,
    no_report: bool,
    dry_run: bool,
    plan_path: Path | None,
    concurrency: int,
    ca_bundle: Path | None,
    refresh_status: bool,
    use_sandbox: bool,
    feed: str | None,
    scope: Scope,
    delete_past: bool,
    no_delete: bool,
    allow_mass_delete: bool,
    state_path: Path | None,
    config_file: Path | None,
    sheet: str | None,
    timezone: str | None,
    customer_id: int | None,
    as_json: bool,
    verbose: int,
    log_format: str,
    quiet: bool,
) -> int:
    """Import FILE into Ocean: validate, work out the changes, push them, write the results.

    Exit 0 when every row is valid and every change applied; 1 when some rows are invalid
    or some changes failed (see the results workbook); 2 when nothing was done (bad file,
    bad configuration); 3 when the run stopped early (login refused, Ocean unreachable, the
    mass-delete guard, another run holding the state, Ctrl-C): the next run picks up.
    """
    configure_logging(verbose, quiet, log_format)
    if dry_run:
        given = {"--plan": plan_path, "--sandbox": use_sandbox, "--refresh-status": refresh_status}
        if clashing := [flag for flag, value in given.items() if value]:
            raise UsageError(
                f"--dry-run only shows the plan, Ocean not contacted: it cannot go with "
                f"{' or '.join(clashing)} (use `ocean-import plan` to review, then `run`)"
            )
    settings = _settings(
        config_file,
        sheet=sheet,
        timezone=timezone,
        customer_id=customer_id,
        ca_bundle=str(ca_bundle) if ca_bundle else None,
    )
    target = (
        None
        if no_report
        else (report_path or default_report_path(file, "plan" if dry_run else "run"))
    )
    _check_outputs(file, target)
    options = _options(
        file, feed, scope, delete_past, no_delete, allow_mass_delete, concurrency=concurrency,
        dry_run=dry_run,
    )  # fmt: skip
    if dry_run:
        return _plan(file, settings, options, state_path, target, None, as_json, quiet)
    with contextlib.ExitStack() as stack:
        if use_sandbox:
            server = stack.enter_context(_demo_sandbox(settings))
            settings = replace(
                settings,
                ocean=OceanSettings(
                    base_url=server.base_url, login=DEFAULT_LOGIN, password=Secret(DEFAULT_PASSWORD)
                ),
            )
            state_path = state_path or Path(":memory:")
        state = stack.enter_context(open_state(state_path))
        state.lock()
        result, written = import_file(
            file,
            settings,
            state,
            options,
            report_path=target,
            saved_plan=plan_path,
            progress=lambda total: _progress(total, quiet or as_json),
            refresh_status=refresh_status,
        )
    _show_import(result, written, as_json, quiet, None)
    if result.stopped:
        # Where schedulers look (a journal, a cron mail): the reason of an exit 3, in one line.
        click.echo(f"ocean-import: stopped: {result.stopped}", err=True)
    return result.exit_code


@main.command()
@click.argument("inbox", type=click.Path(path_type=Path, file_okay=False))
@click.option("--once", is_flag=True, help="Process what is there, then exit (for a timer).")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=DEFAULT_INTERVAL_SECONDS,
    show_default=True,
    help="Seconds between two looks at the inbox (without --once).",
)
@click.option(
    "--settle",
    type=click.FloatRange(min=0),
    default=DEFAULT_SETTLE_SECONDS,
    show_default=True,
    help="A file is taken once unchanged for this many seconds (still being copied otherwise).",
)
@_concurrency_option
@_ca_bundle_option
@_import_options
@_common_options
@_friendly_errors
def watch(
    inbox: Path,
    once: bool,
    interval: float,
    settle: float,
    concurrency: int,
    ca_bundle: Path | None,
    feed: str | None,
    scope: Scope,
    delete_past: bool,
    no_delete: bool,
    allow_mass_delete: bool,
    state_path: Path | None,
    config_file: Path | None,
    sheet: str | None,
    timezone: str | None,
    customer_id: int | None,
    as_json: bool,
    verbose: int,
    log_format: str,
    quiet: bool,
) -> int:
    """The scheduled job: import each planning file dropped in INBOX, once.

    Imported files go to INBOX/archive/YYYY-MM-DD/ with their results workbook; files that
    cannot be read go to INBOX/failed/ with a NAME.error.txt. A file whose content was
    imported before is archived without a call; a run that stops early (Ocean unreachable,
    the mass-delete guard) leaves its file in the inbox for the next pass.

    With --once: exit 0 when every file went through, 1 when some had invalid rows, failed
    changes or could not be read, 3 when a run stopped early or another job holds the state.
    Without --once: runs until SIGTERM or Ctrl-C, stopping between files.
    """
    configure_logging(max(verbose, 0 if quiet else 1), quiet, log_format)
    if not inbox.is_dir():
        raise UsageError(f"the inbox {inbox} is not a folder")
    settings = _settings(
        config_file,
        sheet=sheet,
        timezone=timezone,
        customer_id=customer_id,
        ca_bundle=str(ca_bundle) if ca_bundle else None,
    )
    OceanClient.from_settings(settings.ocean)  # a missing connection setting: say so now
    options = _options(
        inbox, feed, scope, delete_past, no_delete, allow_mass_delete, concurrency=concurrency
    )
    with inbox_lock(inbox), open_state(state_path) as state:
        state.lock()
        watcher = Watcher(
            inbox, settings, state, options, settle=settle, fixed_feed=feed is not None
        )
        if not once:
            return watcher.loop(interval)
        results = watcher.pass_once()
    if as_json:
        click.echo(json.dumps([vars(r) for r in results], ensure_ascii=False, indent=2))
    return job_exit_code(results)


@main.command()
@click.argument("ids", nargs=-1)
@click.option(
    "--report",
    "report_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the statuses to this workbook.",
)
@_concurrency_option
@_ca_bundle_option
@_state_option
@_common_options
@_friendly_errors
def status(
    ids: tuple[str, ...],
    report_path: Path | None,
    concurrency: int,
    ca_bundle: Path | None,
    state_path: Path | None,
    config_file: Path | None,
    sheet: str | None,
    timezone: str | None,
    customer_id: int | None,
    as_json: bool,
    verbose: int,
    log_format: str,
    quiet: bool,
) -> int:
    """Fetch from Ocean where missions stand: the given IDMISSIONs, or every active mission
    the state knows. Stores them in the state; refused missions stand out.

    Exit 0 when every status was fetched, 1 when Ocean does not know some missions, 3 when
    Ocean could not be reached or refused the login.
    """
    configure_logging(verbose, quiet, log_format)
    settings = _settings(
        config_file,
        sheet=sheet,
        timezone=timezone,
        customer_id=customer_id,
        ca_bundle=str(ca_bundle) if ca_bundle else None,
    )
    if report_path:
        check_writable(report_path)
    ocean = OceanClient.from_settings(settings.ocean, max_connections=concurrency)
    with open_state(state_path) as state:
        keys = state.keys_for(list(ids), settings.customer_id) if ids else state.active_keys()
        statuses = asyncio.run(_fetch(ocean, state, keys, concurrency))
    table = status_table(keys, statuses, settings.zone)
    written = None
    if report_path:
        written = write_table(report_path, "Statuses", table, table["refused"].tolist())
    missing = int(table["status"].isna().sum())
    if as_json:
        records = table.astype(object).where(table.notna(), None).to_dict(orient="records")
        click.echo(json.dumps(records, ensure_ascii=False, indent=2))
    else:
        _print_statuses(table, written)
    return EXIT_PROBLEMS if missing else EXIT_OK


async def _fetch(
    ocean: OceanClient, state: StateStore, keys: list[tuple[int, str]], concurrency: int
) -> dict[tuple[int, str], MissionStatus]:
    async with ocean:
        if keys:
            await ocean.authenticate()
        return await fetch_statuses(ocean, state, keys, concurrency=concurrency)


def status_table(
    keys: list[tuple[int, str]], statuses: dict[tuple[int, str], MissionStatus], zone: ZoneInfo
) -> pd.DataFrame:
    """One line per mission; ``time`` in the planning's zone, named (Ocean sends UTC)."""
    rows = []
    for key in keys:
        found = statuses.get(key)
        rows.append(
            {
                "idMission": key[1],
                "customerId": None if key[0] == NO_CUSTOMER else key[0],
                "status": found.status if found else None,
                "statusCode": found.status_code if found else None,
                "time": _zoned(found.time, zone) if found else None,
                "complement": found.complement if found else "unknown to Ocean, or no answer",
                "commentRefuseReason": found.refuse_reason if found else None,
                "externalMissionId": found.external_id if found else None,
                "refused": bool(found and found.refused),
            }
        )
    columns = [
        "idMission",
        "customerId",
        "status",
        "statusCode",
        "time",
        "complement",
        "commentRefuseReason",
        "externalMissionId",
        "refused",
    ]
    # object columns keep None for what is missing (never a NaN printed as "nan")
    return pd.DataFrame(rows, columns=columns, dtype=object)


def _zoned(ocean_time: str, zone: ZoneInfo) -> str | None:
    """Ocean's UTC ``dd/MM/yyyy HH:mm`` as the planning's local time, with its zone's name."""
    if not ocean_time:
        return None
    try:
        moment = dt.datetime.strptime(ocean_time, API_DATE_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        return f"{ocean_time} (as Ocean wrote it)"
    local = moment.astimezone(zone)
    return f"{local.strftime(API_DATE_FORMAT)} {local.tzname()}"


def _print_statuses(table: pd.DataFrame, report: Path | None) -> None:
    console = Console(highlight=False, soft_wrap=True)
    view = Table("idMission", "status", "time", "details", box=None, pad_edge=False)
    for line in table.to_dict(orient="records"):
        line = {name: "" if value is None else value for name, value in line.items()}
        if line["refused"]:
            view.add_row(
                f"[bold red]{escape(line['idMission'])}[/]",
                f"[bold red]{escape(str(line['status']))}[/]",
                escape(str(line["time"] or "")),
                f"[red]{escape(str(line['commentRefuseReason']))}[/]",
            )
        elif not line["status"]:
            view.add_row(
                escape(line["idMission"]), "[yellow]?[/]", "", escape(str(line["complement"]))
            )
        else:
            view.add_row(
                escape(line["idMission"]),
                escape(str(line["status"])),
                escape(str(line["time"] or "")),
                escape(str(line["complement"] or "")),
            )
    console.print(view)
    counts = table["status"].fillna("?").value_counts()
    refused = int(table["refused"].sum())
    console.print(
        f"{_count(len(table), 'mission', 'missions')}: "
        + ", ".join(f"{n} {s}" for s, n in counts.items())
        + (f"; [bold red]{refused} refused[/]" if refused else "")
    )
    if report:
        console.print(f"Report: {escape(str(report))}")


def _options(
    file: Path,
    feed: str | None,
    scope: Scope,
    delete_past: bool,
    no_delete: bool,
    allow_mass_delete: bool,
    *,
    dry_run: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> ImportOptions:
    return ImportOptions(
        feed=feed or default_feed(file),
        feed_from_name=feed is None,
        scope=scope,
        delete_past=delete_past,
        guard=Guard(allow=allow_mass_delete, never_delete=no_delete),
        concurrency=concurrency,
        dry_run=dry_run,
    )


_FEED_ORIGINS = {
    "name": ", from the file's name",
    "legacy": ", as earlier imports named this file's feed (--feed to set another)",
}


def _count(n: int, singular: str, plural: str) -> str:
    """``1 warning``, ``2 warnings``."""
    return f"{n} {ngettext(singular, plural, n)}"


def _where(line: dict[Any, Any]) -> str:
    """Where a results line points: its row, or the mission for a deletion."""
    return f"row {int(line['row'])}" if pd.notna(line["row"]) else f"mission {line['idMission']}"


def _demo_sandbox(settings: Settings) -> SandboxServer:
    from importer.sandbox.server import SandboxServer  # the server side loads only when used

    customers = (settings.customer_id,) if settings.customer_id else DEFAULT_CUSTOMERS
    world = World([Account(DEFAULT_LOGIN, DEFAULT_PASSWORD, customers=customers)])
    return SandboxServer(world)


def _progress(total: int, silent: bool) -> tuple[Callable[[Outcome], None], Callable[[], None]]:
    """A progress bar on a terminal; a log line every 10 seconds otherwise."""
    if total and not silent and sys.stderr.isatty():
        bar = Progress(
            TextColumn("pushing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        task = bar.add_task("push", total=total)
        bar.start()
        return (lambda _: bar.advance(task)), bar.stop
    done = [0, time.monotonic()]

    def tick(_: Outcome) -> None:
        done[0] += 1
        if time.monotonic() - done[1] >= 10:
            done[1] = time.monotonic()
            log.warning("pushed %d of %d changes", done[0], total)

    return tick, lambda: None


def _show_import(
    run: ImportRun, report: Path | None, as_json: bool, quiet: bool, saved: Path | None
) -> None:
    lines = run.lines()
    if as_json:
        body = {
            "exit_code": run.exit_code,
            "file": str(run.checked.sheet.raw.path),
            "feed": run.plan.feed,
            "dry_run": run.options.dry_run,
            "rows": run.checked.row_count,
            "invalid": run.checked.invalid_count,
            "actions": {k: int(v) for k, v in lines["action"].value_counts().items()},
            "outcomes": {k: int(v) for k, v in lines["outcome"].value_counts().items()},
            "stopped": run.stopped,
            "mass_delete_guard": run.plan.guard_message,
            "report": str(report) if report else None,
            "plan": str(saved) if saved else None,
        }
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    console = Console(highlight=False, soft_wrap=True)
    checked = run.checked
    actions = lines["action"].value_counts()
    what = ", ".join(f"{int(actions.get(a, 0))} {a}" for a in ACTIONS if actions.get(a, 0))
    console.print(
        f"[bold]{escape(checked.sheet.raw.path.name)}[/] "
        f"(feed {escape(run.plan.feed)}{_FEED_ORIGINS.get(run.options.feed_origin or '', '')}): "
        f"{_count(checked.row_count, 'row', 'rows')}, {what or 'nothing to do'}"
    )
    if run.outcomes is not None:
        outcomes = lines.loc[lines["action"].isin(["create", "modify", "delete"]), "outcome"]
        counted = outcomes.value_counts()
        console.print(
            "Ocean: " + (", ".join(f"{int(n)} {o}" for o, n in counted.items()) or "no call")
        )
    elif not quiet and run.plan.mutating:
        console.print("It would do:" if run.options.dry_run else "It would have done:")
        changes = lines[lines["action"].isin(["create", "modify", "delete"])]
        for line in changes.head(20).to_dict(orient="records"):
            detail = str(line["message"]).split("; ")[0]
            console.print(f"  {line['action']:<7} {escape(_where(line))}: {escape(detail)}")
        more = int(lines["action"].isin(["create", "modify", "delete"]).sum()) - 20
        if more > 0:
            console.print(f"  ...and {more} more (see the workbook)")
    if run.plan.guard_message and run.options.dry_run:
        console.print(
            f"[red]Mass-delete guard[/]: run would stop: {escape(run.plan.guard_message)}"
        )
    if run.plan.kept_past:
        console.print(
            ngettext(
                "{n} absent mission already past is kept (--delete-past)",
                "{n} absent missions already past are kept (--delete-past)",
                run.plan.kept_past,
            ).format(n=run.plan.kept_past)
        )
    if run.stopped:
        console.print(f"[red]Stopped[/]: {escape(run.stopped)}")
    failed = lines[lines["outcome"].isin(["failed", "unknown"])]
    if not quiet:
        for line in failed.head(10).to_dict(orient="records"):
            message = escape(str(line["message"]))
            console.print(f"  [red]{line['outcome']}[/] {escape(_where(line))}: {message}")
        if checked.invalid_count:
            console.print(
                ngettext(
                    "{n} invalid row was not sent (see the Errors sheet)",
                    "{n} invalid rows were not sent (see the Errors sheet)",
                    checked.invalid_count,
                ).format(n=checked.invalid_count)
            )
    if saved:
        console.print(f"Plan saved: {escape(str(saved))}")
    if report:
        console.print(f"Report: {escape(str(report))}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
@click.option(
    "--work",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path(".ocean-import") / "web",
    show_default=True,
    help="Where uploads, plans and results workbooks are kept.",
)
@click.option(
    "--sandbox",
    "use_sandbox",
    is_flag=True,
    help="Import into a sandbox started with the page (a demo; user demo, password demo "
    "when the configuration names no user).",
)
@_state_option
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    default=None,
    help="TOML configuration file (also OCEAN_IMPORT_CONFIG); [web] users.",
)
@click.option("-v", "--verbose", count=True, help="More log output.")
@_log_format_option
@_friendly_errors
def serve(
    host: str,
    port: int,
    work: Path,
    use_sandbox: bool,
    state_path: Path | None,
    config_file: Path | None,
    verbose: int,
    log_format: str,
) -> int:
    """The web page for dispatchers: log in, upload a planning, review, confirm, download.

    Serve it behind an HTTPS reverse proxy when it is not on this machine only: its session
    cookie is marked Secure except on loopback.
    """
    import uvicorn

    from importer.web.app import WebConfig, create_web_app
    from importer.web.passwords import hash_password

    configure_logging(verbose, False, log_format)
    settings = _settings(config_file)
    with contextlib.ExitStack() as stack:
        if use_sandbox:
            server = stack.enter_context(_demo_sandbox(settings))
            settings = replace(
                settings,
                ocean=OceanSettings(
                    base_url=server.base_url, login=DEFAULT_LOGIN, password=Secret(DEFAULT_PASSWORD)
                ),
                web_users=settings.web_users or {"demo": hash_password("demo")},
            )
            state_path = state_path or work / "sandbox-state.db"
        if not settings.web_users:
            raise ConfigError(
                "no user may log in: add [web] users to the configuration "
                "(hashes from `ocean-import hash-password`)"
            )
        OceanClient.from_settings(settings.ocean)  # a missing connection setting: say so now
        loopback = host in ("127.0.0.1", "localhost", "::1")
        app = create_web_app(
            WebConfig(settings, state_path or DEFAULT_STATE_PATH, work, secure_cookies=not loopback)
        )
        click.echo(
            f"ocean-import page on http://{host}:{port}/"
            + ("  (sandbox; user demo, password demo)" if use_sandbox else "")
        )
        log.info("serving on http://%s:%d/", host, port, extra={"event": "serving"})
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            # JSON: uvicorn's lines through our handlers, not its own formatters
            log_config=None if log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        )
    return EXIT_OK


@main.command("hash-password")
def hash_password_command() -> None:
    """Print the hash of a password, for [web] users in the configuration."""
    from importer.web.passwords import hash_password

    password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    click.echo(hash_password(password))


def _fail_missions(entries: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    scripted = []
    for entry in entries:
        id_mission, _, kinds = entry.rpartition(":")
        if not id_mission or not kinds:
            raise click.BadParameter(f"{entry!r}: expected IDMISSION:KIND[,KIND...]")
        scripted.append((id_mission, kinds.split(",")))
    return scripted


_SHARE = click.FloatRange(0, 1)  # a share: 0.1 is 10%


@main.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True)
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True)
@click.option("--login", default=None, help="Login it accepts (else OCEAN_LOGIN, else demo).")
@click.option(
    "--password", default=None, help="Password it accepts (else OCEAN_PASSWORD, else demo)."
)
@click.option(
    "--customer",
    "customers",
    type=int,
    multiple=True,
    help="A customerId the login may use (repeat it: more than one makes the account "
    "multi-client, and customerId required). Default: 4242.",
)
@click.option(
    "--password-days",
    type=int,
    default=90,
    show_default=True,
    help="passwordExpirationRemainingDays it answers (14 or less: the client warns).",
)
@click.option("--latency", type=float, default=0, help="Fault: milliseconds added to every answer.")
@click.option(
    "--jitter", type=float, default=0, help="Fault: plus up to this many random milliseconds."
)
@click.option(
    "--error-share",
    type=_SHARE,
    default=0,
    help="Fault: share of requests answered 500 or 503 (0.1 = 10%), change not applied.",
)
@click.option(
    "--rate-limit",
    type=float,
    default=0,
    help="Fault: requests per second beyond which it answers 429 (0: no limit).",
)
@click.option(
    "--no-retry-after", is_flag=True, help="Fault: send 429 without a Retry-After header."
)
@click.option(
    "--drop-before",
    type=_SHARE,
    default=0,
    help="Fault: share of connections dropped before the change is applied.",
)
@click.option(
    "--drop-after",
    type=_SHARE,
    default=0,
    help="Fault: share of connections dropped after the change is applied (the ambiguous timeout).",
)
@click.option(
    "--token-lifetime",
    type=float,
    default=12 * 3600,
    show_default=True,
    help="Fault: seconds a token stays valid (Ocean: 12 hours).",
)
@click.option(
    "--fail-mission",
    multiple=True,
    metavar="ID:KIND[,KIND]",
    help="Fault: the next requests about mission ID fail, one KIND each, in order. "
    "KIND: " + "; ".join(f"{kind} = {what}" for kind, what in FAILURE_KINDS.items()) + ".",
)
@click.option(
    "--slow-seconds",
    type=float,
    default=60,
    show_default=True,
    help="How long a 'slow' scripted failure waits.",
)
@click.option(
    "--status-step",
    type=float,
    default=30,
    show_default=True,
    help="Seconds between two status changes (Envoyée, Reçue, Acceptée or Refusée...).",
)
@click.option(
    "--refuse-share",
    type=_SHARE,
    default=0.1,
    show_default=True,
    help="Share of sent missions that drivers refuse.",
)
@click.option(
    "--echo-id",
    type=click.Choice(ECHO_STYLES),
    default="quoted",
    show_default=True,
    help="How answers name the mission: « M-1 », M-1 bare (as many services do), or not at all.",
)
@click.option("--seed", type=int, default=None, help="Seed of the random faults (repeatable runs).")
@click.option("-v", "--verbose", is_flag=True, help="Log every request (access log).")
@_log_format_option
@_friendly_errors
def sandbox(
    host: str,
    port: int,
    login: str | None,
    password: str | None,
    customers: tuple[int, ...],
    password_days: int,
    latency: float,
    jitter: float,
    error_share: float,
    rate_limit: float,
    no_retry_after: bool,
    drop_before: float,
    drop_after: float,
    token_lifetime: float,
    fail_mission: tuple[str, ...],
    slow_seconds: float,
    status_step: float,
    refuse_share: float,
    echo_id: str,
    seed: int | None,
    verbose: bool,
    log_format: str,
) -> int:
    """Serve a local Ocean-compatible server, for demos and tests (missions kept in memory).

    It implements auth/authenticate2 and the four geomission endpoints under
    /ocean/restapi as the vendor documents them, and lists what it holds at
    /_sandbox/missions and /_sandbox/requests. Faults are off unless asked for; they can
    also be changed while it runs with POST /_sandbox/faults. Stop it with Ctrl-C.
    """
    account = Account(
        login or os.environ.get("OCEAN_LOGIN") or DEFAULT_LOGIN,
        password or os.environ.get("OCEAN_PASSWORD") or DEFAULT_PASSWORD,
        customers=customers or DEFAULT_CUSTOMERS,
        password_days=password_days,
    )
    faults = Faults(
        latency=latency / 1000,
        jitter=jitter / 1000,
        error_share=error_share,
        rate_limit=rate_limit,
        retry_after=not no_retry_after,
        drop_before_share=drop_before,
        drop_after_share=drop_after,
        slow_seconds=slow_seconds,
        token_lifetime=token_lifetime,
        status_step=status_step,
        refuse_share=refuse_share,
    )
    world = World([account], faults=faults, seed=seed, echo_id=echo_id)
    # The server side (Starlette, uvicorn) is loaded only by the commands that serve.
    from importer.sandbox import app as sandbox_app
    from importer.sandbox import server as sandbox_server

    try:
        for id_mission, kinds in _fail_missions(fail_mission):
            world.script(id_mission, *kinds)
    except ValueError as exc:
        raise UsageError(f"--fail-mission: {exc}") from None
    try:
        listening = sandbox_server.bind(host, port)
    except OSError as exc:
        raise UsageError(
            f"the sandbox cannot listen on {host}:{port} ({os.strerror(exc.errno or 0)}): "
            "choose another --port or --host"
        ) from None
    url = f"http://{host}:{listening.getsockname()[1]}"
    kind = "multi-client" if account.multi_client else "customer"
    base_path, control_path = sandbox_app.BASE_PATH, sandbox_app.CONTROL_PATH
    click.echo(f"Ocean sandbox on {url}{base_path}")
    click.echo(
        f"  login {account.login!r} ({kind} {', '.join(map(str, account.customers))}); "
        "password not shown"
    )
    click.echo(f"  missions: {url}{control_path}/missions   requests: {url}{control_path}/requests")
    click.echo(f"  import into it: OCEAN_BASE_URL={url}{base_path} OCEAN_LOGIN={account.login} ...")
    click.echo("  Ctrl-C to stop")
    if log_format == "json":
        configure_logging(1 if verbose else 0, False, log_format)
    sandbox_server.serve_forever(
        world, listening, access_log=verbose, root_logging=log_format == "json"
    )
    return EXIT_OK


# --- helpers ----------------------------------------------------------------------------------


def _settings(config_file: Path | None, **flags: Any) -> Settings:
    if config_file is None and os.environ.get("OCEAN_IMPORT_CONFIG"):
        config_file = Path(os.environ["OCEAN_IMPORT_CONFIG"])
    return load_settings(config_file, os.environ, **flags)


def _check_outputs(source: Path, report: Path | None, out: Path | None = None) -> None:
    """Refuse before any work an output that would overwrite the planning or fail at the end."""
    for target, option in ((report, "--report"), (out, "--out")):
        if target is None:
            continue
        if target.resolve() == source.resolve():
            raise UsageError(
                f"the {option} file would overwrite the planning itself ({source}): "
                f"choose another {option} path"
            )
        check_writable(target, option)


def _print_validation(run: ValidationRun, report: Path | None, quiet: bool) -> None:
    checked = run.checked
    console = Console(highlight=False, soft_wrap=True)
    raw = checked.sheet.raw
    where = f"sheet {raw.sheet_name!r}, " if raw.sheet_name else ""
    console.print(
        f"[bold]{escape(raw.path.name)}[/] ({where}header on row {checked.sheet.header_row}): "
        f"{_count(checked.row_count, 'row', 'rows')} read, [green]{checked.valid_count} valid[/], "
        + (f"[red]{checked.invalid_count} invalid[/]" if checked.invalid_count else "0 invalid")
        + f"; {_count(checked.error_count, 'error', 'errors')}, "
        + _count(checked.warning_count, "warning", "warnings")
    )
    if not quiet:
        _print_problems(console, checked.problems)
    if report:
        console.print(f"Report: {escape(str(report))}")


def _print_problems(console: Console, problems: list[Problem]) -> None:
    heading = None
    for kind, group in problems_by_kind(problems).items():
        severity = KINDS[kind].severity
        if severity != heading:
            heading = severity
            colour = "red" if severity == "error" else "yellow"
            console.print(f"\n[bold {colour}]{'Errors' if severity == 'error' else 'Warnings'}[/]")
        console.print(f"  [bold]{escape(KINDS[kind].title)}[/] ({len(group)})")
        for problem in group[:EXAMPLES_PER_KIND]:
            console.print("    " + escape(_locate(problem) + problem.message))
        if len(group) > EXAMPLES_PER_KIND:
            console.print(f"    ...and {len(group) - EXAMPLES_PER_KIND} more")


def _locate(problem: Problem) -> str:
    parts = [f"row {problem.row}"] if problem.row is not None else []
    if problem.column:
        parts.append(f"{problem.column}" + (f" ({problem.cell})" if problem.cell else ""))
    return (", ".join(parts) + ": ") if parts else ""


def _validation_json(run: ValidationRun, report: Path | None, code: int) -> dict[str, Any]:
    checked = run.checked
    raw = checked.sheet.raw
    return {
        "command": "validate",
        "file": str(raw.path),
        "sha256": raw.sha256,
        "sheet": raw.sheet_name,
        "header_row": checked.sheet.header_row,
        "feed": run.feed,
        "rows": checked.row_count,
        "valid": checked.valid_count,
        "invalid": checked.invalid_count,
        "errors": checked.error_count,
        "warnings": checked.warning_count,
        "report": str(report) if report else None,
        "exit_code": code,
        "problems": [_problem_json(p) for p in checked.problems],
    }


def _problem_json(problem: Problem) -> dict[str, Any]:
    value = problem.value
    if value is not None and not isinstance(value, str | int | float | bool):
        value = str(value)
    return {
        "row": problem.row,
        "cell": problem.cell,
        "column": problem.column,
        "value": value,
        "problem": problem.message,
        "severity": problem.severity,
        "kind": problem.kind,
    }
