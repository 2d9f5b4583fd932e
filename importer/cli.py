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
