"""The scheduled job and the status command, against the sandbox on a loopback port."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result

from importer.cli import main
from importer.sandbox import Faults, SandboxServer, World
from importer.state import StateStore
from importer.watch import BOND_NAME
from tests.helpers import CUSTOMER, ROOT, FakeClock, rows_for, write_planning

SETTLED = time.time() - 3600  # a modification time well past any settle delay


class Job:
    """``ocean-import watch`` and ``status`` pointed at one inbox, one sandbox, one state."""

    def __init__(self, sandbox: SandboxServer, folder: Path) -> None:
        self.sandbox = sandbox
        self.inbox = folder / "inbox"
        self.inbox.mkdir()
        self.state = folder / "state.db"
        self.config = folder / "ocean-import.toml"
        self.config.write_text(f'timezone = "Europe/Paris"\ncustomer_id = {CUSTOMER}\n')
        self.env = {"OCEAN_BASE_URL": sandbox.base_url, "OCEAN_LOGIN": "demo",
                    "OCEAN_PASSWORD": "demo", "OCEAN_IMPORT_CONFIG": ""}  # fmt: skip

    def args(self, command: str, *args: str) -> list[str]:
        return [command, *args, "--config", str(self.config), "--state", str(self.state)]

    def __call__(self, command: str, *args: str) -> Result:
        return CliRunner().invoke(main, self.args(command, *args), env=self.env,
                                  catch_exceptions=False)  # fmt: skip

    def drop(self, name: str, rows: list[dict[str, object]], settled: bool = True) -> Path:
        path = write_planning(self.inbox / name, rows)
        # Stamped by the process's clock, not the file system's, so that a clock set ahead
        # (the suite under faketime) sees a file just written as just written.
        moment = SETTLED if settled else time.time()
        os.utime(path, (moment, moment))
        return path

    def creates(self) -> int:
        return sum(e.operation == "create" for e in self.sandbox.world.requests())


@pytest.fixture
def job(sandbox: SandboxServer, tmp_path: Path) -> Job:
    return Job(sandbox, tmp_path)


def test_watch_once_imports_archives_and_quarantines(job: Job) -> None:
    clean = rows_for(1, 5, prefix="C")
    job.drop("tournee-nord.xlsx", clean)
    with_invalid = rows_for(1, 4, prefix="I")
    with_invalid[1]["jourHeureInter"] = "31/02/2026 08:00"
    job.drop("tournee-sud.csv", with_invalid)
    corrupt = job.inbox / "tournee-est.xlsx"
    corrupt.write_bytes(b"PK\x03\x04 this is not really a workbook")
    os.utime(corrupt, (SETTLED, SETTLED))

    result = job("watch", str(job.inbox), "--once", "--settle", "5")
    assert result.exit_code == 1, result.output

    held = {m["idMission"] for m in job.sandbox.world.missions()}
    assert held == {r["idMission"] for r in clean} | {r["idMission"] for r in with_invalid} - {
        with_invalid[1]["idMission"]
    }
    [day] = (job.inbox / "archive").iterdir()
    assert sorted(p.name for p in day.iterdir()) == [
        "tournee-nord.results.xlsx", "tournee-nord.xlsx",
        "tournee-sud.csv", "tournee-sud.results.xlsx",
    ]  # fmt: skip
    failed = job.inbox / "failed"
    assert sorted(p.name for p in failed.iterdir()) == [
        "tournee-est.xlsx",
        "tournee-est.xlsx.error.txt",
    ]
    reason = (failed / "tournee-est.xlsx.error.txt").read_text()
    assert "tournee-est.xlsx" in reason and "damaged" in reason
    assert sorted(p.name for p in job.inbox.iterdir()) == [BOND_NAME, "archive", "failed"]

    # The same content dropped again: nothing is sent.
    creates = job.creates()
    copy = shutil.copy(day / "tournee-nord.xlsx", job.inbox / "tournee-nord-copie.xlsx")
    os.utime(copy, (SETTLED, SETTLED))
    again = job("watch", str(job.inbox), "--once", "--settle", "5")
    assert again.exit_code == 0
    assert job.creates() == creates
    assert "already imported, set aside" in again.output
    assert (day / "tournee-nord-copie.xlsx").exists()


def test_a_file_still_being_written_waits_until_it_settles(job: Job) -> None:
    growing = job.drop("tournee.xlsx", rows_for(1, 3), settled=False)
    first = job("watch", str(job.inbox), "--once", "--settle", "30", "--json")
    assert first.exit_code == 0
    assert growing.exists() and job.creates() == 0
    # Not silent: the job says the file waits, and from when it will be taken.
    assert (
        "tournee.xlsx: still being written: taken once unchanged for 30 s, by a pass from"
        in first.stderr
    )
    [waiting] = json.loads(first.stdout)
    assert (waiting["file"], waiting["outcome"], waiting["exit_code"]) == (
        "tournee.xlsx",
        "settling",
        0,
    )
    os.utime(growing, (SETTLED, SETTLED))
    second = job("watch", str(job.inbox), "--once", "--settle", "30")
    assert second.exit_code == 0
    assert not growing.exists() and job.creates() == 3


def test_office_lock_and_temporary_files_are_ignored(job: Job) -> None:
    for name in ("~$tournee.xlsx", ".~lock.tournee.xlsx#", ".hidden.csv", "tournee.xlsx.tmp",
                 "notes.pdf"):  # fmt: skip
        path = job.inbox / name
        path.write_bytes(b"owner lock data")
        os.utime(path, (SETTLED, SETTLED))
    result = job("watch", str(job.inbox), "--once")
    assert result.exit_code == 0
    assert not (job.inbox / "failed").exists()
    assert len([p for p in job.inbox.iterdir() if p.name != BOND_NAME]) == 5


def test_a_file_whose_feed_another_run_imports_waits_then_stays_for_the_next_pass(
    job: Job, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("importer.watch.FEED_WAIT_SECONDS", 0.5)
    job.drop("tournee.xlsx", rows_for(1, 2))
    with StateStore(job.state) as holder, holder.feed_lock(CUSTOMER, "tournee"):
        result = job("watch", str(job.inbox), "--once")
    assert result.exit_code == 3
    assert "another ocean-import run is importing the feed 'tournee'" in result.output
    assert "left in the inbox for the next pass" in result.output
    assert (job.inbox / "tournee.xlsx").exists()


def test_a_run_that_stops_leaves_its_file_for_the_next_pass(job: Job) -> None:
    job.env["OCEAN_PASSWORD"] = "expired-password"
    job.drop("tournee.xlsx", rows_for(1, 2))
    result = job("watch", str(job.inbox), "--once")
    assert result.exit_code == 3
    assert (job.inbox / "tournee.xlsx").exists()
    job.env["OCEAN_PASSWORD"] = "demo"
    assert job("watch", str(job.inbox), "--once").exit_code == 0
    assert not (job.inbox / "tournee.xlsx").exists()


def test_json_logs_are_one_object_per_line(job: Job) -> None:
    job.drop("tournee.xlsx", rows_for(1, 2))
    broken = job.inbox / "vide.csv"
    broken.write_text("idMission;jourHeureInter\n")
    os.utime(broken, (SETTLED, SETTLED))
    command = [sys.executable, "-m", "importer", *job.args("watch", str(job.inbox), "--once",
               "--log-format", "json")]  # fmt: skip
    done = subprocess.run(command, env={**os.environ, **job.env}, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1
    entries = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    summaries = {e["file"]: e for e in entries if e.get("event") == "file_done"}
    assert set(summaries) == {"tournee.xlsx", "vide.csv"}
    imported = summaries["tournee.xlsx"]
    assert imported["outcome"] == "imported" and imported["exit_code"] == 0
    assert imported["feed"] == "tournee" and imported["counts"]["action create"] == 2
    assert isinstance(imported["duration"], float)
    assert {"time", "level", "event"} <= set(imported)
    assert summaries["vide.csv"]["outcome"] == "failed"
    assert "but no mission rows" in summaries["vide.csv"]["reason"]
    assert imported["reason"] is None


def test_sigterm_stops_the_job_with_nothing_half_done(tmp_path: Path) -> None:
    with SandboxServer(World(faults=Faults(latency=0.05))) as sandbox:
        job = Job(sandbox, tmp_path)
        for n in range(3):
            job.drop(f"tournee-{n}.xlsx", rows_for(1 + n, 8, prefix=f"T{n}"))
        command = [sys.executable, "-m", "importer", *job.args("watch", str(job.inbox),
                   "--interval", "0.2", "--settle", "1", "--concurrency", "1")]  # fmt: skip
        process = subprocess.Popen(command, env={**os.environ, **job.env}, cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        deadline = time.monotonic() + 30
        while job.creates() < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    # The signal came two creates into the first file (8 rows at 50 ms each): that import
    # stops where it is, and the job says it was stopped (3), not that all went well.
    assert process.returncode == 3, err
    assert "Traceback" not in err
    archived = list((job.inbox / "archive").rglob("tournee-?.xlsx"))
    waiting = sorted(p.name for p in job.inbox.glob("tournee-?.xlsx"))
    # Nothing half-done: each file is either archived with its workbook, or still waiting.
    assert len(archived) + len(waiting) == 3 and waiting
    assert all(p.with_name(f"{p.stem}.results.xlsx").exists() for p in archived)
    with StateStore(job.state) as state:
        runs = state.runs()
        assert all(run.finished_at for run in runs)


def in_a_process(job: Job, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "importer", *job.args("watch", str(job.inbox), *args)]
    return subprocess.Popen(command, env={**os.environ, **job.env}, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def wait_until(condition: object, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)
    assert condition(), "waited in vain"  # type: ignore[operator]


def being_read(job: Job) -> list[str]:
    if not job.state.exists():
        return []
    with StateStore(job.state) as state:
        return [row[0] for row in state._db.execute("SELECT file FROM reading")]


def test_a_file_that_kills_the_job_is_set_aside_and_the_others_go_through(job: Job) -> None:
    """The process dies reading a file (here: kill -9 while it reads a big one): the next pass
    sees the unfinished reading, sets the file aside with the reason, and goes on."""
    poison = write_planning(job.inbox / "enorme.csv", rows_for(1, 150_000, prefix="P"))
    os.utime(poison, (SETTLED - 60, SETTLED - 60))  # the oldest: taken first
    job.drop("tournee.xlsx", rows_for(2, 3))
    dying = in_a_process(job, "--once")
    try:
        wait_until(lambda: being_read(job) == ["enorme.csv"])
    finally:
        dying.kill()
        dying.communicate(timeout=30)
    assert job.creates() == 0 and poison.exists()

    after = job("watch", str(job.inbox), "--once")
    assert after.exit_code == 1  # a file set aside
    note = (job.inbox / "failed" / "enorme.csv.error.txt").read_text()
    assert "the job died while reading it at " in note
    assert (job.inbox / "failed" / "enorme.csv").exists()
    assert job.creates() == 3 and not (job.inbox / "tournee.xlsx").exists()
    assert job("watch", str(job.inbox), "--once").exit_code == 0  # one dead pass, no more


def test_a_file_saved_again_during_its_import_is_not_lost(tmp_path: Path) -> None:
    with SandboxServer(World(faults=Faults(latency=0.2))) as sandbox:
        job = Job(sandbox, tmp_path)
        rows = rows_for(1, 8)
        planning = job.drop("tournee.xlsx", rows)
        importing = in_a_process(job, "--once", "--concurrency", "1")
        wait_until(lambda: job.creates() >= 1)
        changed = [{**row, "commentaire": "nouvelle version"} for row in rows]
        write_planning(planning, changed)  # the dispatcher saves again meanwhile
        os.utime(planning, (SETTLED, SETTLED))
        _, err = importing.communicate(timeout=60)
        assert importing.returncode == 0, err
        assert "changed while it was imported" in err and "stays in the inbox" in err
        assert planning.exists()  # the new version waits; the old one was sent
        [day] = (job.inbox / "archive").iterdir()
        assert sorted(p.name for p in day.iterdir()) == ["tournee.earlier-version.results.xlsx"]

        again = job("watch", str(job.inbox), "--once")
        assert again.exit_code == 0
        held = {m["idMission"]: m for m in sandbox.world.missions()}
        assert {m["commentaire"] for m in held.values()} == {"nouvelle version"}
        assert (day / "tournee.xlsx").exists() and not planning.exists()


def test_one_inbox_one_job(tmp_path: Path) -> None:
    with SandboxServer(World(faults=Faults(latency=0.1))) as sandbox:
        job = Job(sandbox, tmp_path)
        job.drop("tournee.xlsx", rows_for(1, 30))  # 3 s of calls: the second job comes meanwhile
        first = in_a_process(job, "--once", "--concurrency", "1")
        wait_until(lambda: job.creates() >= 1)
        job.state = tmp_path / "another-state.db"  # even with a state store of its own
        second = job("watch", str(job.inbox), "--once")
        assert second.exit_code == 3
        assert f"the inbox {job.inbox} is worked with another state store (" in second.stderr
        assert "Traceback" not in second.output
        first.communicate(timeout=60)
        assert first.returncode == 0
        assert job.creates() == 30  # every mission once


def test_an_inbox_bound_to_another_store_stops_the_job_before_any_file(job: Job) -> None:
    job.drop("tournee.xlsx", rows_for(1, 2))
    bond = job.inbox / BOND_NAME
    bond.write_text('{"store": "another", "where": "postgresql://ocean@db/other"}')
    held = job("watch", str(job.inbox), "--once")
    assert held.exit_code == 3 and job.creates() == 0
    assert "(postgresql://ocean@db/other)" in held.output and f"remove {bond}" in held.output
    bond.unlink()  # that store is no longer used
    assert job("watch", str(job.inbox), "--once").exit_code == 0
    assert job.creates() == 2


def test_status_shows_statuses_moving_on_and_refusals_standing_out(tmp_path: Path) -> None:
    clock = FakeClock(time.time())
    world = World(clock=clock, faults=Faults(status_step=60, refuse_share=0.5))
    with SandboxServer(world) as sandbox:
        job = Job(sandbox, tmp_path)
        rows = rows_for(1, 8)
        job.drop("tournee.xlsx", rows)
        assert job("watch", str(job.inbox), "--once").exit_code == 0
        first = job("status", "--json")
        assert first.exit_code == 0
        assert {s["status"] for s in json.loads(first.stdout)} == {"Envoyée"}
        clock.advance(125)
        report = tmp_path / "statuts.xlsx"
        later = job("status", "--report", str(report))
        assert later.exit_code == 0
        assert "refused" in later.output
        statuses = json.loads(job("status", "--json").stdout)
        refused = [s for s in statuses if s["refused"]]
        assert refused and all(s["commentRefuseReason"] for s in refused)
        assert {s["status"] for s in statuses} <= {"Acceptée", "Refusée"}
        sheet = openpyxl.load_workbook(report)["Statuses"]
        fills = {row[0].value: row[0].fill.fgColor.rgb for row in sheet.iter_rows(min_row=2)}
        assert all(fills[s["idMission"]].endswith("F8CBAD") for s in refused)
        with StateStore(job.state) as state:
            stored = state.mission((CUSTOMER, refused[0]["idMission"]))
            assert stored is not None and stored["remote_status"] == "Refusée"
        one = job("status", rows[0]["idMission"], "UNKNOWN-1", "--json")
        assert one.exit_code == 1
        assert [s["status"] for s in json.loads(one.stdout)][1] is None
        # Said for a person: no "nan" for what Ocean does not know, times in the planning's
        # zone with its name (Ocean sends UTC).
        shown = job("status", rows[0]["idMission"], "UNKNOWN-1")
        assert "nan" not in shown.stdout and "unknown to Ocean" in shown.stdout
        assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d (CET|CEST) ", shown.stdout), shown.stdout
        assert "2 missions: " in shown.stdout
        assert "1 mission: " in job("status", rows[0]["idMission"]).stdout


def test_run_refresh_status_fills_the_workbook(job: Job, tmp_path: Path) -> None:
    planning = write_planning(tmp_path / "tournee.xlsx", rows_for(1, 3))
    result = CliRunner().invoke(main, ["run", str(planning), "--refresh-status", "--config",
                                       str(job.config), "--state", str(job.state)],
                                env=job.env)  # fmt: skip
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(tmp_path / "tournee.results.xlsx")["Results"]
    header = [c.value for c in sheet[1]]
    column = header.index("remote_status")
    values = [row[column] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert all(str(v).startswith("Envoyée") for v in values)


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)
@pytest.mark.parametrize(("doc", "names"), [
    ("scheduling.md", {"ocean-import.service", "ocean-import.timer"}),
    ("deployment.md", {"ocean-import-watch.service", "ocean-import-watch.timer",
                       "ocean-import-web.service"}),
])  # fmt: skip
def test_the_systemd_units_in_the_docs_verify(tmp_path: Path, doc: str, names: set[str]) -> None:
    text = (ROOT / "docs" / doc).read_text()
    units = {}
    for block in text.split("```ini")[1:]:
        body = block.split("```")[0].strip("\n")
        first, _, rest = body.partition("\n")
        name = first.strip().removeprefix("# ").strip()
        units[name] = rest
    assert set(units) == names
    # The services' ExecStart must exist for verify: point it at a stand-in.
    stand_in = tmp_path / "ocean-import"
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    for name, body in units.items():
        body = body.replace("/opt/ocean-import/.venv/bin/ocean-import", str(stand_in))
        (tmp_path / name).write_text(body)
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(tmp_path / name) for name in sorted(units))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    problems = [line for line in done.stderr.splitlines() if str(tmp_path) in line]
    assert done.returncode == 0 and not problems, done.stderr


# --- files nobody meant for the inbox (issue 34: nothing stalls the job) -------------------


def watch_once_in_a_process(job: Job, *args: str, seconds: float = 120) -> tuple[int, str]:
    """``watch INBOX --once`` in its own process, as a timer starts it: exit code, stderr."""
    process = in_a_process(job, "--once", *args)
    _, err = process.communicate(timeout=seconds)
    return process.returncode, err


def test_a_huge_sparse_file_is_set_aside_from_its_size_alone(job: Job) -> None:
    """``truncate -s 200G``: the job looked at the size only after hashing the whole file (7 s
    a GB, on every pass). Told from its size, set aside at once; the good file goes through."""
    sparse = job.inbox / "tournee.csv"
    with sparse.open("wb") as handle:
        handle.truncate(200 * 1024**3)
    os.utime(sparse, (SETTLED, SETTLED))
    job.drop("equipe.xlsx", rows_for(2, 3))
    code, err = watch_once_in_a_process(job)
    assert code == 1 and "Traceback" not in err
    note = (job.inbox / "failed" / "tournee.csv.error.txt").read_text()
    assert "tournee.csv: is 204,800.0 MB, over the 100 MB limit" in note
    assert not sparse.exists() and job.creates() == 3
    assert being_read(job) == []  # nothing left marked as being read


def test_a_named_pipe_in_place_of_a_planning_never_hangs_the_job(job: Job) -> None:
    """A FIFO swapped in after the listing blocked the job for ever (SIGTERM did not end it).
    The job's own step for one file, in its own process, on a FIFO: it answers at once."""
    fifo = job.inbox / "tournee.csv"
    os.mkfifo(fifo)
    script = (
        "import sys; from pathlib import Path\n"
        "from importer.config import ImportOptions, load_settings\n"
        "from importer.pipeline import open_state\n"
        "from importer.watch import Watcher\n"
        "inbox, state, config = map(Path, sys.argv[1:4])\n"
        "with open_state(state) as store:\n"
        "    watcher = Watcher(inbox, load_settings(config), store,\n"
        "                      ImportOptions(feed='', feed_from_name=True))\n"
        "    result = watcher.process(inbox / 'tournee.csv')\n"
        "print(result.outcome, result.exit_code)\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", script, str(job.inbox), str(job.state), str(job.config)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, **job.env},
    )  # fmt: skip
    assert process.stdout.split() == ["failed", "2"], process.stderr
    note = (job.inbox / "failed" / "tournee.csv.error.txt").read_text()
    assert "is not a regular file (a named pipe" in note


def test_the_reader_refuses_a_named_pipe_without_waiting_on_it(tmp_path: Path) -> None:
    fifo = tmp_path / "tournee.csv"
    os.mkfifo(fifo)
    process = subprocess.run(
        [sys.executable, "-m", "importer", "validate", str(fifo), "--lang", "en"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "OCEAN_IMPORT_CONFIG": ""},
    )  # fmt: skip
    assert process.returncode == 2 and "Traceback" not in process.stderr
    assert "is not a regular file" in process.stderr


@pytest.mark.parametrize("folder", ["archive", "failed"])
def test_an_archive_or_failed_that_is_a_file_stops_the_job_with_a_sentence(
    job: Job, folder: str
) -> None:
    (job.inbox / folder).write_text("not a folder")
    planning = job.drop("tournee.xlsx", rows_for(1, 3))
    code, err = watch_once_in_a_process(job, "--lang", "en")
    assert code == 3 and "Traceback" not in err
    assert f"{job.inbox / folder} is not a folder" in err
    assert planning.exists() and job.creates() == 0  # nothing taken, nothing lost


def test_a_file_name_with_a_line_break_cannot_forge_a_log_line(job: Job) -> None:
    forged = "tournee\n2026-12-08 06:00:00 INFO equipe.xlsx: imported, exit 0.csv"
    path = job.inbox / forged
    path.write_text("nothing;to;see\n")
    os.utime(path, (SETTLED, SETTLED))
    code, err = watch_once_in_a_process(job, "--lang", "en")
    assert code == 1 and "Traceback" not in err
    assert not [line for line in err.splitlines() if line.startswith("2026-12-08 06:00:00")]
    assert "tournee\\n2026-12-08 06:00:00 INFO" in err  # the name, escaped, on one line


def test_an_unexpected_failure_on_one_file_sets_it_aside_and_the_job_goes_on(job: Job) -> None:
    """A name the file system holds in Latin-1 (dropped over SMB by an old client): handling
    it raised deep in the job, and every pass died on it. It is set aside with an error
    reference that the log explains, and the good file beside it is imported."""
    odd = write_planning(job.inbox / "odd.csv", rows_for(1, 3, prefix="L"))
    latin1 = os.fsencode(job.inbox) + b"/tourn\xe9e.csv"
    os.rename(odd, latin1)
    os.utime(latin1, (SETTLED - 60, SETTLED - 60))  # the oldest: taken first
    job.drop("equipe.xlsx", rows_for(2, 3))
    code, err = watch_once_in_a_process(job, "--lang", "en")
    assert code == 1
    reference = re.search(r"unexpected error (E[0-9A-F]{8})", err)
    assert reference, err
    notes = list((job.inbox / "failed").glob("*.error.txt"))
    assert len(notes) == 1 and f"reference {reference.group(1)}" in notes[0].read_text()
    assert job.creates() == 3 and not (job.inbox / "equipe.xlsx").exists()
    assert watch_once_in_a_process(job)[0] == 0  # never stuck on it pass after pass


def test_sigterm_ends_the_job_within_seconds_whatever_it_waits_on(job: Job) -> None:
    """The job waits for another run of the file's feed (up to 2 minutes): SIGTERM does not
    wait with it. The job ends with the stop's exit code, the file left for the next pass."""
    job.drop("tournee.xlsx", rows_for(1, 2))
    with StateStore(job.state) as holder, holder.feed_lock(CUSTOMER, "tournee"):
        waiting = in_a_process(job, "--interval", "0.2", "--settle", "0", "--lang", "en")
        said: list[str] = []
        reader = threading.Thread(target=lambda: said.extend(waiting.stderr or ()), daemon=True)
        reader.start()
        wait_until(lambda: any("waiting up to 120 s" in line for line in said))
        waiting.send_signal(signal.SIGTERM)
        waiting.wait(timeout=60)  # it waited 2 minutes for the feed before
        reader.join(10)
        for pipe in (waiting.stdout, waiting.stderr):
            if pipe is not None:
                pipe.close()
    assert waiting.returncode == 3
    err = "".join(said)
    assert "not stopped after 10 s: ending now" in err and "Traceback" not in err
    assert (job.inbox / "tournee.xlsx").exists() and job.creates() == 0
