"""Failures that know when to stop: a failed row is retried while it can still matter, and
reported as expired, not sent, once its time has passed (the CLI against the sandbox)."""

from __future__ import annotations

from pathlib import Path

import openpyxl

from importer.sandbox import SandboxServer
from tests.helpers import Importer, rows_for


def test_a_failed_row_is_retried_while_it_matters_and_expires_once_past(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    importer = Importer(sandbox, tmp_path)
    past, future = rows_for(-1, 1, prefix="P"), rows_for(1, 2, prefix="F")
    rows = [*past, *future]
    for row in (past[0], future[0]):
        importer.sandbox.world.script(row["idMission"], "refuse")  # Ocean refuses it, once
    planning = importer.planning("tournee.xlsx", rows)
    first = importer("run", planning)
    assert first.exit_code == 1 and "2 failed" in first.output, first.output
    assert set(importer.missions()) == {future[1]["idMission"]}

    again = importer("run", planning)
    assert again.exit_code == 1, again.output  # the expired row needs a look
    assert "1 expired" in again.output and "1 create" in again.output
    assert set(importer.missions()) == {future[0]["idMission"], future[1]["idMission"]}
    sent = [i for op, i, _ in importer.mutating_calls() if op == "create"]
    assert sent.count(past[0]["idMission"]) == 1  # never sent again
    book = openpyxl.load_workbook(importer.folder / "tournee.results.xlsx")
    sheet = book.worksheets[0]
    header = [cell.value for cell in sheet[1]]
    lines = [
        dict(zip(header, row, strict=False)) for row in sheet.iter_rows(min_row=2, values_only=True)
    ]
    [expired] = [line for line in lines if line["idMission"] == past[0]["idMission"]]
    assert expired["action"] == "expired"
    assert "its time has passed and its last call failed" in expired["message"]
