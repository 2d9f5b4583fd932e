"""``history`` and ``undo RUN``: the wrong file imported, then Ocean put back as it was,
against the sandbox on a loopback port, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from importer.cli import main
from importer.sandbox import SandboxServer
from tests.helpers import ROOT, Importer, rows_for

# What a mission is, as Ocean holds it (the sandbox's own bookkeeping aside).
BOOKKEEPING = {"version", "externalMissionId", "statutMission", "codeStatut", "motifRefus",
               "dateStatut", "aEnvoyer"}  # fmt: skip


def held(importer: Importer) -> dict[str, dict[str, Any]]:
    return {key: {k: v for k, v in mission.items() if k not in BOOKKEEPING}
            for key, mission in importer.missions().items()}  # fmt: skip


def command(importer: Importer, *args: str) -> Result:
    line = [*args, "--config", str(importer.config), "--state", str(importer.state)]
    return CliRunner().invoke(main, line, env=importer.env, catch_exceptions=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def importer(request: pytest.FixtureRequest, sandbox: SandboxServer, tmp_path: Path) -> Importer:
    made = Importer(sandbox, tmp_path)
    if request.param == "postgresql":
        made.state = request.getfixturevalue("pg_url")
    return made


def two_imports(importer: Importer) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The right file, then the wrong one (2 modified, 2 deleted, 2 created): what Ocean held
    after the first, and the first file's rows."""
    rows = rows_for(1, 8)
    assert importer("run", importer.planning("tournee.xlsx", rows)).exit_code == 0
    first = held(importer)
    wrong = [{**rows[0], "commentaire": "quai 9", "ville": "Lille"},
             {**rows[1], "nomIndi": "Autre chauffeur"}, *rows[2:6],
             *rows_for(1, 2, prefix="X")]  # fmt: skip
    second = importer("run", importer.planning("tournee.xlsx", wrong))
    assert second.exit_code == 0, second.output
    assert "2 create" in second.output and "2 modify" in second.output
    assert "2 delete" in second.output
    return first, rows


def test_undo_puts_ocean_back_as_the_first_import_left_it(importer: Importer) -> None:
    first, _rows = two_imports(importer)
    assert held(importer) != first
    listed = json.loads(command(importer, "history", "--json").output)
    assert [run["command"] for run in listed] == ["run", "run"]
    assert listed[0]["actor"] and "@" in listed[0]["actor"]
    second = listed[0]["id"]

    shown = command(importer, "undo", str(second), "--dry-run")
    assert shown.exit_code == 0, shown.output
    assert "2 create, 2 modify, 2 delete" in shown.output and "nothing sent" in shown.output
    calls = len(importer.mutating_calls())
    assert held(importer) != first and len(importer.mutating_calls()) == calls

    done = command(importer, "undo", str(second))
    assert done.exit_code == 0, done.output
    assert held(importer) == first  # field by field
    after = json.loads(command(importer, "history", "--json").output)
    assert after[0]["command"] == "undo" and after[0]["exit_code"] == 0
    rerun = importer("run", importer.planning("tournee.xlsx", rows_for(1, 8)))
    assert "8 unchanged" in rerun.output  # the state knows Ocean is back as the first left it


def test_ctrl_c_stops_an_undo_as_it_stops_an_import(sandbox: SandboxServer, tmp_path: Path) -> None:
    """An undo is an import run backwards: a Ctrl-C lets the calls in flight finish, starts
    nothing more, records the run as stopped (exit 3); an undo --force finishes the work."""
    importer = Importer(sandbox, tmp_path)
    rows = rows_for(1, 30)
    assert importer("run", importer.planning("tournee.xlsx", rows)).exit_code == 0
    first = held(importer)
    moved = [{**row, "ville": "Lille"} for row in rows]
    assert importer("run", importer.planning("tournee.xlsx", moved)).exit_code == 0
    second = json.loads(command(importer, "history", "--json").output)[0]["id"]
    sandbox.world.faults.latency = 0.1
    calls = len(importer.mutating_calls())
    line = [sys.executable, "-m", "importer", "undo", str(second), "--concurrency", "2",
            "--config", str(importer.config), "--state", str(importer.state)]  # fmt: skip
    process = subprocess.Popen(line, env={**os.environ, **importer.env}, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    importer.wait_for_calls(calls + 6)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 3, out + err
    assert "Traceback" not in err
    latest = json.loads(command(importer, "history", "--json").output)[0]
    assert latest["command"] == "undo" and latest["exit_code"] == 3  # recorded, not left open
    assert 0 < len(importer.mutating_calls()) - calls < 30
    sandbox.world.faults.latency = 0.0
    # What the stopped undo put back counts as changed again by it: --force takes it up.
    finished = command(importer, "undo", str(second), "--force")
    assert finished.exit_code == 0, finished.output
    assert held(importer) == first


def test_an_undo_whose_missions_changed_since_lists_the_conflicts_and_touches_nothing(
    importer: Importer,
) -> None:
    _first, rows = two_imports(importer)
    runs = json.loads(command(importer, "history", "--json").output)
    first_run = runs[-1]["id"]
    now = held(importer)
    calls = len(importer.mutating_calls())
    refused = command(importer, "undo", str(first_run))
    assert refused.exit_code == 1, refused.output
    assert refused.output.count(f"changed again by run {runs[0]['id']}: left alone") == 4
    assert "(--force to undo it anyway)" in refused.output
    # The missions the second run left as they were are undone (deleted); the others not.
    assert len(importer.mutating_calls()) == calls + 4
    assert set(held(importer)) == set(now) - {row["idMission"] for row in rows[2:6]}
    forced = command(importer, "undo", str(first_run), "--force", "--allow-mass-delete")
    assert forced.exit_code == 0, forced.output
    assert "2 delete" in forced.output  # the 2 modified since; those already gone are left
    assert set(held(importer)) == {row["idMission"] for row in rows_for(1, 2, prefix="X")}


def test_a_saved_undo_plan_is_applied_exactly_and_a_stale_one_refused(
    importer: Importer, tmp_path: Path
) -> None:
    first, _rows = two_imports(importer)
    second = json.loads(command(importer, "history", "--json").output)[0]["id"]
    saved = tmp_path / "undo.json"
    assert command(importer, "undo", str(second), "--out", str(saved)).exit_code == 0
    assert json.loads(saved.read_text())["undo_of_run"] == second
    importer("run", importer.planning("autre.xlsx", rows_for(3, 1, prefix="Z")))  # another feed
    applied = command(importer, "undo", str(second), "--plan", str(saved))
    assert applied.exit_code == 0, applied.output
    assert {k: v for k, v in held(importer).items() if not k.startswith("Z")} == first
    again = command(importer, "undo", str(second), "--plan", str(saved))
    assert again.exit_code == 2 and "is stale" in again.output


def test_an_undo_that_deletes_too_much_stops_at_the_guard(importer: Importer) -> None:
    rows = rows_for(1, 40)
    assert importer("run", importer.planning("tournee.xlsx", rows)).exit_code == 0
    run = json.loads(command(importer, "history", "--json").output)[0]["id"]
    stopped = command(importer, "undo", str(run))
    assert stopped.exit_code == 3 and "mass-delete guard" in stopped.output
    assert len(held(importer)) == 40
    done = command(importer, "undo", str(run), "--allow-mass-delete")
    assert done.exit_code == 0 and held(importer) == {}


def test_history_says_who_ran_what(importer: Importer) -> None:
    assert command(importer, "history").output.strip() == "no run yet"
    importer("run", importer.planning("tournee.xlsx", rows_for(1, 2)))
    [line] = command(importer, "history").output.splitlines()
    assert "run (" in line and "tournee.xlsx" in line and "feed 'tournee'" in line
    assert "exit 0" in line and "2 create" in line
    missing = command(importer, "undo", "999")
    assert missing.exit_code == 2 and "there is no run 999" in missing.output
