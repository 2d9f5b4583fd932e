"""End to end on a shared PostgreSQL store (the suite's own server): the commands as several
hosts run them, each host a process of its own, against the sandbox on a loopback port."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from importer.cli import main
from importer.sandbox import Faults, SandboxServer, World
from importer.state import _MIGRATIONS, SCHEMA_VERSION
from importer.store import open_state
from tests.helpers import (
    CUSTOMER,
    ROOT,
    Importer,
    assert_holds_exactly,
    created_twice,
    rows_for,
    write_planning,
)
from tests.postgres import PASSWORD


def on(importer: Importer, pg_url: str) -> Importer:
    importer.state = pg_url  # type: ignore[assignment]  # an address, not a file
    return importer


def test_a_day_of_imports_on_postgresql(
    sandbox: SandboxServer, tmp_path: Path, pg_url: str
) -> None:
    """Create, then a modify and a delete, then the same file again: zero calls; the runs,
    the plan and the statuses read from the shared store; the password never shown."""
    importer = on(Importer(sandbox, tmp_path), pg_url)
    rows = rows_for(1, 6)
    first = importer("run", importer.planning("tournee.xlsx", rows))
    assert first.exit_code == 0, first.output
    assert_holds_exactly(importer, rows)
    changed = [{**rows[0], "commentaire": "quai 4"}, *rows[1:5]]
    planning = importer.planning("tournee.xlsx", changed)
    planned = importer("plan", planning)
    assert "1 modify" in planned.output and "1 delete" in planned.output
    second = importer("run", planning)
    assert second.exit_code == 0, second.output
    assert_holds_exactly(importer, changed)
    calls = len(importer.mutating_calls())
    again = importer("run", planning)
    assert again.exit_code == 0 and len(importer.mutating_calls()) == calls
    status = CliRunner().invoke(main, ["status", "--state", pg_url, "--config",
                                       str(importer.config)], env=importer.env)  # fmt: skip
    assert status.exit_code == 0, status.output
    with open_state(pg_url) as state:
        assert [run.exit_code for run in state.runs()] == [0, 0, 0]
        assert len(state.active_keys()) == 5
    for said in (first, planned, second, again, status):
        assert PASSWORD not in said.output


def test_the_store_comes_from_the_configuration_or_the_environment(
    sandbox: SandboxServer, tmp_path: Path, pg_url: str
) -> None:
    importer = Importer(sandbox, tmp_path)
    planning = importer.planning("tournee.xlsx", rows_for(1, 2))
    importer.config.write_text(importer.config.read_text() + f'[state]\nurl = "{pg_url}"\n')
    args = ["run", str(planning), "--config", str(importer.config)]
    assert CliRunner().invoke(main, args, env=importer.env).exit_code == 0
    elsewhere = {**importer.env, "OCEAN_IMPORT_STATE": str(tmp_path / "local.db")}
    assert CliRunner().invoke(main, args, env=elsewhere).exit_code == 0  # the environment wins
    with open_state(pg_url) as shared, open_state(tmp_path / "local.db") as local:
        assert len(shared.runs()) == 1 and len(local.runs()) == 1


def run_process(importer: Importer, planning: Path, *options: str) -> subprocess.Popen[str]:
    return importer.in_a_process(planning, "--no-report", *options)


def test_two_feeds_at_once_both_finish_and_one_feed_twice_exits_3(
    tmp_path: Path, pg_url: str
) -> None:
    with SandboxServer(World(faults=Faults(latency=0.05))) as sandbox:
        importer = on(Importer(sandbox, tmp_path), pg_url)
        north = importer.planning("depot-nord.xlsx", rows_for(1, 30, prefix="N"))
        south = importer.planning("depot-sud.xlsx", rows_for(1, 30, prefix="S"))
        hosts = [run_process(importer, north, "--concurrency", "2"),
                 run_process(importer, south, "--concurrency", "2")]  # fmt: skip
        for host in hosts:
            _, err = host.communicate(timeout=120)
            assert host.returncode == 0, err
        assert len(importer.missions()) == 60 and created_twice(importer) == []
        with open_state(pg_url) as state:
            [a, b] = sorted(state.runs(), key=lambda run: run.feed or "")
        assert a.started_at < b.finished_at and b.started_at < a.finished_at  # side by side

        later = importer.planning("depot-nord.xlsx", rows_for(2, 40, prefix="L"))
        same = [run_process(importer, later, "--concurrency", "1") for _ in range(2)]
        outcomes = [(host.communicate(timeout=120)[1], host.returncode) for host in same]
        assert sorted(code for _, code in outcomes) == [0, 3]
        [refusal] = [err for err, code in outcomes if code == 3]
        assert "is importing the feed 'depot-nord' into the state postgresql://ocean@" in refusal
        assert " (pid " in refusal and PASSWORD not in refusal
        assert created_twice(importer) == []


def test_a_worker_killed_mid_run_then_the_feed_resumed_elsewhere_never_creates_twice(
    tmp_path: Path, pg_url: str
) -> None:
    with SandboxServer(World(faults=Faults(latency=0.02))) as sandbox:
        importer = on(Importer(sandbox, tmp_path), pg_url)
        rows = rows_for(1, 150)
        planning = importer.planning("tournee.xlsx", rows)
        worker = run_process(importer, planning, "--concurrency", "4")
        importer.wait_for_calls(40)
        worker.send_signal(signal.SIGKILL)
        worker.communicate()
        assert 0 < len(importer.missions()) < 150
        # Another host takes the feed at once: the dead worker's session, and lock, are gone.
        result = importer("run", planning)
        assert result.exit_code == 0, result.output
        assert_holds_exactly(importer, rows)
        assert created_twice(importer) == []
        creates = Counter(e.id_mission for e in sandbox.world.requests()
                          if e.operation == "create" and e.applied)  # fmt: skip
        assert set(creates.values()) == {1} and len(creates) == 150


def test_two_watchers_on_one_inbox_import_each_file_once(tmp_path: Path, pg_url: str) -> None:
    with SandboxServer(World(faults=Faults(latency=0.01))) as sandbox:
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        config = tmp_path / "ocean-import.toml"
        config.write_text(f'timezone = "Europe/Paris"\ncustomer_id = {CUSTOMER}\n')
        settled = time.time() - 3600
        for number in range(20):  # ten depots, two files each: the later waits for the first
            path = write_planning(inbox / f"depot{number % 10}-J+{1 + number // 10}.xlsx",
                                  rows_for(1 + number // 10, 3, prefix=f"D{number}-"))  # fmt: skip
            os.utime(path, (settled + number, settled + number))
        env = {**os.environ, "OCEAN_BASE_URL": sandbox.base_url, "OCEAN_LOGIN": "demo",
               "OCEAN_PASSWORD": "demo", "OCEAN_IMPORT_CONFIG": ""}  # fmt: skip
        command = [sys.executable, "-m", "importer", "watch", str(inbox), "--once", "--json",
                   "--config", str(config), "--state", pg_url]  # fmt: skip
        hosts = [subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
        results = []
        for host in hosts:
            out, err = host.communicate(timeout=300)
            assert host.returncode == 0, err
            results.append(json.loads(out))
        imported = Counter(r["file"] for result in results for r in result
                           if r["outcome"] == "imported")  # fmt: skip
        assert len(imported) == 20 and set(imported.values()) == {1}
        assert all(result for result in results)  # both took files
        assert [p.name for p in inbox.glob("*.xlsx")] == []
        assert len(list((inbox / "archive").rglob("*.results.xlsx"))) == 20
        assert len(sandbox.world.missions()) == 60
        creates = Counter(e.id_mission for e in sandbox.world.requests() if e.operation == "create")
        assert set(creates.values()) == {1}


def test_state_copy_moves_a_site_to_postgresql_and_the_rerun_sends_nothing(
    sandbox: SandboxServer, tmp_path: Path, pg_url: str
) -> None:
    importer = Importer(sandbox, tmp_path)
    rows = rows_for(1, 8)
    planning = importer.planning("tournee.xlsx", rows)
    assert importer("run", planning).exit_code == 0
    calls = len(importer.mutating_calls())
    copied = CliRunner().invoke(main, ["state", "copy", str(importer.state), pg_url])
    assert copied.exit_code == 0, copied.output
    assert "8 missions, 1 run, 8 row outcomes" in copied.output and PASSWORD not in copied.output
    again = CliRunner().invoke(main, ["state", "copy", str(importer.state), pg_url])
    assert again.exit_code == 2 and "a copy goes into an empty store only" in again.output
    rerun = on(importer, pg_url)("run", planning)
    assert rerun.exit_code == 0 and "8 unchanged" in rerun.output
    assert len(importer.mutating_calls()) == calls  # zero calls
    migrated = CliRunner().invoke(main, ["state", "migrate", "--state", pg_url])
    assert migrated.exit_code == 0 and "already up to date" in migrated.output


def test_state_migrate_brings_an_old_store_up_to_date(tmp_path: Path) -> None:
    old = tmp_path / "state.db"
    with sqlite3.connect(old) as db:
        for statement in filter(str.strip, _MIGRATIONS[0].split(";")):
            db.execute(statement)
        db.execute("PRAGMA user_version = 1")
    done = CliRunner().invoke(main, ["state", "migrate", "--state", str(old), "--lang", "fr"])
    assert done.exit_code == 0
    assert f"schéma {SCHEMA_VERSION} (mis à jour depuis le schéma 1)" in done.output
