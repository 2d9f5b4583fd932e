"""What the commands print on a terminal, rendered from the results (``results``)."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from gettext import ngettext
from pathlib import Path
from typing import Any

import click
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from importer.cli.options import Output
from importer.problems import Problem
from importer.results import CALLS, FAILURES, Action, ImportRun, OutcomeRecord, ValidationRun
from importer.validate import KINDS, problems_by_kind

EXAMPLES_PER_KIND = 5
CHANGES_SHOWN = 20
FAILURES_SHOWN = 10
log = logging.getLogger("importer")

_FEED_ORIGINS = {
    "name": ", from the file's name",
    "legacy": ", as earlier imports named this file's feed (--feed to set another)",
}


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def count(n: int, singular: str, plural: str) -> str:
    """``1 warning``, ``2 warnings``."""
    return f"{n} {ngettext(singular, plural, n)}"


def echo_json(data: object) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


# --- validate -------------------------------------------------------------------------------


def show_validation(run: ValidationRun, report: Path | None, output: Output) -> None:
    if output.as_json:
        echo_json(run.as_json(report))
        return
    checked = run.checked
    console = _console()
    raw = checked.sheet.raw
    where = f"sheet {raw.sheet_name!r}, " if raw.sheet_name else ""
    console.print(
        f"[bold]{escape(raw.path.name)}[/] ({where}header on row {checked.sheet.header_row}): "
        f"{count(checked.row_count, 'row', 'rows')} read, [green]{checked.valid_count} valid[/], "
        + (f"[red]{checked.invalid_count} invalid[/]" if checked.invalid_count else "0 invalid")
        + f"; {count(checked.error_count, 'error', 'errors')}, "
        + count(checked.warning_count, "warning", "warnings")
    )
    if not output.quiet:
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


# --- plan and run ---------------------------------------------------------------------------


def show_import(run: ImportRun, report: Path | None, output: Output, saved: Path | None) -> None:
    """The summary of a plan or a run (``--json``: the same facts for a script)."""
    summary = run.summary(report, saved)
    if output.as_json:
        echo_json(summary.as_json())
        return
    console = _console()
    lines = run.lines()
    what = ", ".join(f"{summary.actions[a]} {a}" for a in Action if summary.actions.get(a, 0))
    console.print(
        f"[bold]{escape(summary.file.name)}[/] "
        f"(feed {escape(summary.feed)}{_FEED_ORIGINS.get(summary.feed_origin or '', '')}): "
        f"{count(summary.rows, 'row', 'rows')}, {what or 'nothing to do'}"
    )
    if summary.pushed:
        console.print(
            "Ocean: "
            + (", ".join(f"{n} {o}" for o, n in summary.call_outcomes.items()) or "no call")
        )
    elif not output.quiet and run.plan.mutating:
        console.print("It would do:" if summary.dry_run else "It would have done:")
        changes = lines[lines["action"].isin(CALLS)]
        for line in changes.head(CHANGES_SHOWN).to_dict(orient="records"):
            detail = str(line["message"]).split("; ")[0]
            console.print(f"  {line['action']:<7} {escape(_where(line))}: {escape(detail)}")
        if (more := len(changes) - CHANGES_SHOWN) > 0:
            console.print(f"  ...and {more} more (see the workbook)")
    if summary.mass_delete_guard and summary.dry_run:
        console.print(
            f"[red]Mass-delete guard[/]: run would stop: {escape(summary.mass_delete_guard)}"
        )
    if summary.kept_past:
        console.print(
            ngettext(
                "{n} absent mission already past is kept (--delete-past)",
                "{n} absent missions already past are kept (--delete-past)",
                summary.kept_past,
            ).format(n=summary.kept_past)
        )
    if summary.stopped:
        console.print(f"[red]Stopped[/]: {escape(summary.stopped)}")
    if not output.quiet:
        failed = lines[lines["outcome"].isin(FAILURES)]
        for line in failed.head(FAILURES_SHOWN).to_dict(orient="records"):
            message = escape(str(line["message"]))
            console.print(f"  [red]{line['outcome']}[/] {escape(_where(line))}: {message}")
        if summary.invalid:
            console.print(
                ngettext(
                    "{n} invalid row was not sent (see the Errors sheet)",
                    "{n} invalid rows were not sent (see the Errors sheet)",
                    summary.invalid,
                ).format(n=summary.invalid)
            )
    if saved:
        console.print(f"Plan saved: {escape(str(saved))}")
    if report:
        console.print(f"Report: {escape(str(report))}")


def _where(line: dict[Any, Any]) -> str:
    """Where a results line points: its row, or the mission for a deletion."""
    return f"row {int(line['row'])}" if pd.notna(line["row"]) else f"mission {line['idMission']}"


Tick = Callable[[OutcomeRecord], None]


def progress(total: int, silent: bool) -> tuple[Tick, Callable[[], None]]:
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

    def tick(_: OutcomeRecord) -> None:  # one per call made
        done[0] += 1
        if time.monotonic() - done[1] >= 10:
            done[1] = time.monotonic()
            log.warning("pushed %d of %d changes", done[0], total)

    return tick, lambda: None


# --- status ---------------------------------------------------------------------------------


def show_statuses(table: pd.DataFrame, report: Path | None, output: Output) -> None:
    if output.as_json:
        echo_json(table.astype(object).where(table.notna(), None).to_dict(orient="records"))
        return
    console = _console()
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
        f"{count(len(table), 'mission', 'missions')}: "
        + ", ".join(f"{n} {s}" for s, n in counts.items())
        + (f"; [bold red]{refused} refused[/]" if refused else "")
    )
    if report:
        console.print(f"Report: {escape(str(report))}")
