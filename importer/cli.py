"""The ``ocean-import`` command: parse options, call one library function, print."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from importer import __version__
from importer.config import Settings, load_settings
from importer.errors import EXIT_OK, EXIT_PROBLEMS, OceanImportError, UsageError
from importer.pipeline import (
    ValidationRun,
    check_file,
    default_feed,
    default_report_path,
    validation_report,
)
from importer.problems import Problem
from importer.sandbox import BASE_PATH, CONTROL_PATH, FAILURE_KINDS, Account, Faults, World
from importer.sandbox import server as sandbox_server
from importer.sandbox.world import DEFAULT_CUSTOMERS, DEFAULT_LOGIN, DEFAULT_PASSWORD
from importer.validate import KINDS, problems_by_kind

EXAMPLES_PER_KIND = 5
log = logging.getLogger("importer")


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
    quiet: bool,
) -> int:
    """Check every row of FILE and report every problem; Ocean is not contacted.

    Exit 0 when every row is valid (warnings allowed), 1 when some rows are invalid,
    2 when the file cannot be used at all.
    """
    _configure_logging(verbose, quiet)
    settings = _settings(config_file, sheet=sheet, timezone=timezone, customer_id=customer_id)
    target = None if no_report else (report_path or default_report_path(file, "validate"))
    _refuse_overwriting_input(file, target)
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
@click.option("--host", default=sandbox_server.DEFAULT_HOST, show_default=True)
@click.option("--port", type=int, default=sandbox_server.DEFAULT_PORT, show_default=True)
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
@click.option("--seed", type=int, default=None, help="Seed of the random faults (repeatable runs).")
@click.option("-v", "--verbose", is_flag=True, help="Log every request (access log).")
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
    seed: int | None,
    verbose: bool,
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
    world = World([account], faults=faults, seed=seed)
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
    click.echo(f"Ocean sandbox on {url}{BASE_PATH}")
    click.echo(
        f"  login {account.login!r} ({kind} {', '.join(map(str, account.customers))}); "
        "password not shown"
    )
    click.echo(f"  missions: {url}{CONTROL_PATH}/missions   requests: {url}{CONTROL_PATH}/requests")
    click.echo(f"  import into it: OCEAN_BASE_URL={url}{BASE_PATH} OCEAN_LOGIN={account.login} ...")
    click.echo("  Ctrl-C to stop")
    sandbox_server.serve_forever(world, listening, access_log=verbose)
    return EXIT_OK


# --- helpers ----------------------------------------------------------------------------------


def _settings(config_file: Path | None, **flags: Any) -> Settings:
    if config_file is None and os.environ.get("OCEAN_IMPORT_CONFIG"):
        config_file = Path(os.environ["OCEAN_IMPORT_CONFIG"])
    return load_settings(config_file, os.environ, **flags)


def _refuse_overwriting_input(source: Path, target: Path | None) -> None:
    if target is not None and target.resolve() == source.resolve():
        raise UsageError(
            f"the report would overwrite the planning itself ({source}): "
            "choose another --report path"
        )


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = (
        logging.WARNING
        if quiet or not verbose
        else (logging.INFO if verbose == 1 else logging.DEBUG)
    )
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def _print_validation(run: ValidationRun, report: Path | None, quiet: bool) -> None:
    checked = run.checked
    console = Console(highlight=False, soft_wrap=True)
    raw = checked.sheet.raw
    where = f"sheet {raw.sheet_name!r}, " if raw.sheet_name else ""
    console.print(
        f"[bold]{escape(raw.path.name)}[/] ({where}header on row {checked.sheet.header_row}): "
        f"{checked.row_count} rows read, [green]{checked.valid_count} valid[/], "
        + (f"[red]{checked.invalid_count} invalid[/]" if checked.invalid_count else "0 invalid")
        + f"; {checked.error_count} errors, {checked.warning_count} warnings"
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
