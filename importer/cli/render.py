"""What the commands print on a terminal, rendered from the results (``results``)."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from importer.cli.options import Output
from importer.i18n import _, ngettext, number
from importer.problems import KINDS, Problem, problems_by_kind
from importer.results import (
    CALLS,
    NEEDS_A_LOOK,
    Action,
    ImportRun,
    OutcomeRecord,
)
from importer.validation import ValidationRun
from importer.words import counted, words, zone_words

EXAMPLES_PER_KIND = 5
CHANGES_SHOWN = 20
FAILURES_SHOWN = 10
log = logging.getLogger("importer")


def _feed_origin(origin: str | None) -> str:
    if origin == "name":
        return _(", from the file's name")
    if origin == "legacy":
        return _(", as earlier imports named this file's feed (--feed to set another)")
    return ""


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def count(n: int, singular: str, plural: str) -> str:
    """``1 warning``, ``2 warnings``: ``singular`` and ``plural`` hold ``{n}``."""
    return ngettext(singular, plural, n).format(n=number(n))


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
    where = _("sheet '{name}', ").format(name=escape(raw.sheet_name)) if raw.sheet_name else ""
    invalid = count(checked.invalid_count, "{n} invalid", "{n} invalid")
    headline = _(
        "{file} ({sheet}header on row {row}, {zone}): {rows} read, {valid}, {invalid}; "
        "{errors}, {warnings}"
    ).format(
        file=f"[bold]{escape(raw.path.name)}[/]",
        sheet=where,
        row=checked.sheet.header_row,
        zone=zone_words(checked.timezone, checked.timezone_given),
        rows=count(checked.row_count, "{n} row", "{n} rows"),
        valid="[green]" + count(checked.valid_count, "{n} valid", "{n} valid") + "[/]",
        invalid=f"[red]{invalid}[/]" if checked.invalid_count else invalid,
        errors=count(checked.error_count, "{n} error", "{n} errors"),
        warnings=count(checked.warning_count, "{n} warning", "{n} warnings"),
    )
    console.print(headline)
    if not output.quiet:
        _print_problems(console, checked.problems)
    if report:
        console.print(_("Report: {path}").format(path=escape(str(report))))


def _print_problems(console: Console, problems: list[Problem]) -> None:
    heading = None
    for kind, group in problems_by_kind(problems).items():
        severity = KINDS[kind].severity
        if severity != heading:
            heading = severity
            colour = "red" if severity == "error" else "yellow"
            title = _("Errors") if severity == "error" else _("Warnings")
            console.print(f"\n[bold {colour}]{title}[/]")
        console.print(f"  [bold]{escape(str(KINDS[kind].title))}[/] ({len(group)})")
        for problem in group[:EXAMPLES_PER_KIND]:
            console.print("    " + escape(_locate(problem) + problem.message))
        if len(group) > EXAMPLES_PER_KIND:
            console.print("    " + _("...and {n} more").format(n=len(group) - EXAMPLES_PER_KIND))


def _locate(problem: Problem) -> str:
    parts = [_("row {row}").format(row=problem.row)] if problem.row is not None else []
    if problem.column:
        parts.append(f"{problem.column}" + (f" ({problem.cell})" if problem.cell else ""))
    return _("{where}: ").format(where=", ".join(parts)) if parts else ""


# --- plan and run ---------------------------------------------------------------------------


def show_import(run: ImportRun, report: Path | None, output: Output, saved: Path | None) -> None:
    """The summary of a plan or a run (``--json``: the same facts for a script)."""
    summary = run.summary(report, saved)
    if output.as_json:
        echo_json(summary.as_json())
        return
    console = _console()
    lines = run.lines()
    what = ", ".join(
        counted("action", a, summary.actions[a]) for a in Action if summary.actions.get(a, 0)
    )
    console.print(
        _("{file} (feed {feed}{origin}, {zone}): {rows}, {what}").format(
            file=f"[bold]{escape(summary.file.name)}[/]",
            feed=escape(summary.feed),
            origin=_feed_origin(summary.feed_origin),
            zone=zone_words(summary.timezone, summary.timezone_given),
            rows=count(summary.rows, "{n} row", "{n} rows"),
            what=what or _("nothing to do"),
        )
    )
    for notice in summary.notices:
        console.print("[yellow]" + escape(notice["message"]) + "[/]")
    if summary.pushed:
        done = ", ".join(counted("outcome", o, n) for o, n in summary.call_outcomes.items())
        console.print(_("Ocean: {outcomes}").format(outcomes=done or _("no call")))
    elif not output.quiet and run.plan.mutating:
        console.print(_("It would do:") if summary.dry_run else _("It would have done:"))
        changes = lines[lines["action"].isin(CALLS)]
        for line in changes.head(CHANGES_SHOWN).to_dict(orient="records"):
            detail = str(line["message"]).split("; ")[0]
            action = words("action", line["action"])
            where = _("{where}: ").format(where=_where(line))
            console.print(f"  {action:<7} {escape(where)}{escape(detail)}")
        if (more := len(changes) - CHANGES_SHOWN) > 0:
            console.print("  " + _("...and {n} more (see the workbook)").format(n=number(more)))
    if summary.mass_delete_guard and summary.dry_run:
        console.print(
            _("[red]Mass-delete guard[/]: run would stop: {reason}").format(
                reason=escape(summary.mass_delete_guard)
            )
        )
    _print_kept(console, lines, output.quiet)
    if summary.missing_in_ocean:
        gone = ", ".join(summary.missing_in_ocean[:CHANGES_SHOWN])
        console.print(
            ngettext(
                "{n} mission was missing in Ocean (deleted there), and is created again: {ids}",
                "{n} missions were missing in Ocean (deleted there), and are created again: {ids}",
                len(summary.missing_in_ocean),
            ).format(n=number(len(summary.missing_in_ocean)), ids=escape(gone))
        )
    if summary.refusals:
        shown = ", ".join(f"{k} ({v})" for k, v in list(summary.refusals.items())[:CHANGES_SHOWN])
        console.print(
            ngettext(
                "[red]{n} mission refused by its driver[/]: {missions}",
                "[red]{n} missions refused by their drivers[/]: {missions}",
                len(summary.refusals),
            ).format(n=number(len(summary.refusals)), missions=escape(shown))
        )
    if summary.unknown_statuses:
        shown = ", ".join(f"{k} ({v})" for k, v in list(summary.unknown_statuses.items())[:5])
        unknown = _(
            "statuses the importer does not know, so not protected: {missions}; name them in "
            "[protect] statuses if they mean the driver has the mission in hand"
        ).format(missions=shown)
        console.print(f"[yellow]{escape(unknown)}[/]")
    if summary.stopped:
        console.print(_("[red]Stopped[/]: {reason}").format(reason=escape(summary.stopped)))
    if not output.quiet:
        failed = lines[lines["outcome"].isin(NEEDS_A_LOOK)]
        for line in failed.head(FAILURES_SHOWN).to_dict(orient="records"):
            message = escape(str(line["message"]))
            outcome = words("outcome", line["outcome"])
            where = _("{where}: ").format(where=_where(line))
            console.print(f"  [red]{outcome}[/] {escape(where)}{message}")
        if summary.invalid:
            console.print(
                ngettext(
                    "{n} invalid row was not sent (see the Errors sheet)",
                    "{n} invalid rows were not sent (see the Errors sheet)",
                    summary.invalid,
                ).format(n=number(summary.invalid))
            )
    if saved:
        console.print(_("Plan saved: {path}").format(path=escape(str(saved))))
    if report:
        console.print(_("Report: {path}").format(path=escape(str(report))))


def _print_kept(console: Console, lines: pd.DataFrame, quiet: bool) -> None:
    """The missions the file no longer holds that stay in Ocean, and why: removing a row
    did not cancel them."""
    kept = lines[lines["action"] == Action.KEPT]
    if not len(kept):
        return
    console.print(
        ngettext(
            "{n} mission no longer in the file is kept in Ocean:",
            "{n} missions no longer in the file are kept in Ocean:",
            len(kept),
        ).format(n=number(len(kept)))
    )
    if quiet:
        return
    for line in kept.head(CHANGES_SHOWN).to_dict(orient="records"):
        where = _("{where}: ").format(where=_where(line))
        console.print(f"  {escape(where)}{escape(str(line['message']))}")
    if (more := len(kept) - CHANGES_SHOWN) > 0:
        console.print("  " + _("...and {n} more (see the workbook)").format(n=number(more)))


def _where(line: dict[Any, Any]) -> str:
    """Where a results line points: its row, or the mission for a deletion."""
    if pd.notna(line["row"]):
        return _("row {row}").format(row=int(line["row"]))
    return _("mission {id}").format(id=line["idMission"])


Tick = Callable[[OutcomeRecord], None]


def progress(total: int, silent: bool) -> tuple[Tick, Callable[[], None]]:
    """A progress bar on a terminal; a log line every 10 seconds otherwise."""
    if total and not silent and sys.stderr.isatty():
        bar = Progress(
            TextColumn(_("sending to Ocean")),
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

    def tick(_record: OutcomeRecord) -> None:  # one per call made
        done[0] += 1
        if time.monotonic() - done[1] >= 10:
            done[1] = time.monotonic()
            log.warning(_("pushed %d of %d changes"), done[0], total)

    return tick, lambda: None


# --- status ---------------------------------------------------------------------------------


def show_statuses(table: pd.DataFrame, report: Path | None, output: Output) -> None:
    if output.as_json:
        echo_json(table.astype(object).where(table.notna(), None).to_dict(orient="records"))
        return
    console = _console()
    view = Table("idMission", _("status"), _("time"), _("details"), box=None, pad_edge=False)
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
        count(len(table), "{n} mission", "{n} missions")
        + ": "
        + ", ".join(f"{n} {s}" for s, n in counts.items())
        + ("; [bold red]" + _("{n} refused").format(n=refused) + "[/]" if refused else "")
    )
    if report:
        console.print(_("Report: {path}").format(path=escape(str(report))))
