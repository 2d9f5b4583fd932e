"""Where the workbooks, the saved plan and the state are written: checked before any call.

A run that could not write its workbook must not change Ocean first, and a run whose disk
fails at the very end says what it did in a sentence. Real folders: missing, read-only
(immutable when the tests run as root), and ``/proc``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from importer.sandbox import Faults, SandboxServer, World
from importer.state import StateStore
from tests.helpers import ROOT, Importer, created_twice, rows_for, unwritable, write_planning


@pytest.fixture
def importer(sandbox: SandboxServer, tmp_path: Path) -> Importer:
    return Importer(sandbox, tmp_path)


def one_sentence(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.parametrize(
    ("where", "words"),
    [
        ("missing/tournee.results.xlsx", "(it does not exist)"),
        ("/proc/x.xlsx", "nothing can be written in the folder /proc"),
        ("locked/tournee.results.xlsx", "nothing can be written in the folder"),
    ],
    ids=["missing-folder", "proc", "read-only-folder"],
)
def test_a_report_that_cannot_be_written_is_refused_before_any_call(
    importer: Importer, where: str, words: str
) -> None:
    planning = importer.planning("tournee.xlsx", rows_for(1, 3))
    locked = importer.folder / "locked"
    locked.mkdir()
    report = Path(where) if where.startswith("/") else importer.folder / where
    with unwritable(locked):
        result = importer("run", planning, "--report", str(report))
    assert result.exit_code == 2
    assert words in one_sentence(result.stderr) and "--report" in result.stderr
    assert importer.mutating_calls() == []
    assert not (importer.folder / "missing").exists()  # never created silently


def test_a_saved_plan_that_cannot_be_written_is_refused_before_the_plan(importer: Importer) -> None:
    planning = importer.planning("tournee.xlsx", rows_for(1, 3))
    result = importer("plan", planning, "--out", str(importer.folder / "plans" / "p.json"))
    assert result.exit_code == 2
    assert "--out" in one_sentence(result.stderr) and "does not exist" in result.stderr
    assert not (importer.folder / "tournee.plan.xlsx").exists()


@pytest.mark.parametrize("option", ["--report", "--out"])
def test_an_option_taken_as_a_value_is_refused(importer: Importer, option: str) -> None:
    planning = importer.planning("tournee.xlsx", rows_for(1, 3))
    result = importer("plan", planning, option, "--config")
    assert result.exit_code == 2
    assert "starts with '-'" in one_sentence(result.stderr)
    assert not (importer.folder / "--config").exists()


def test_a_disk_that_fails_at_the_end_is_told_with_what_was_applied(
    tmp_path: Path,
) -> None:
    world = World(seed=7)
    world.faults.latency = 0.3
    with SandboxServer(world) as sandbox:
        importer = Importer(sandbox, tmp_path)
        out = tmp_path / "out"
        out.mkdir()
        rows = rows_for(1, 5)
        planning = importer.planning("tournee.xlsx", rows)
        report = out / "tournee.results.xlsx"
        process = importer.in_a_process(planning, "--concurrency", "1", "--report", str(report))
        importer.wait_for_calls(1)
        with unwritable(out):  # the folder goes read-only while the calls go on
            _, stderr = process.communicate(timeout=60)
        assert process.returncode == 3
        sentence = one_sentence(stderr)
        assert "Ocean was changed (5 created, 0 modified, 0 deleted; 0 failed)" in sentence
        assert str(report) in sentence and "could not be written" in sentence
        assert len(importer.missions()) == 5
        with StateStore(importer.state) as state:
            assert state.runs()[-1].exit_code == 3

        again = importer("run", planning, "--report", str(report))
        assert again.exit_code == 0, again.output
        assert "5 unchanged" in again.output and report.exists()
        assert len(importer.mutating_calls()) == 5  # nothing sent twice


def test_a_state_in_a_read_only_folder_is_said_so(importer: Importer) -> None:
    planning = importer.planning("tournee.xlsx", rows_for(1, 3))
    folder = importer.folder / "state"
    folder.mkdir()
    importer.state = folder / "state.db"
    assert importer("run", planning).exit_code == 0
    with unwritable(folder):
        result = importer("run", planning)
    assert result.exit_code == 3  # a storage fault: a stop, the next run picks up
    sentence = one_sentence(result.stderr)
    assert f"its folder {folder} is not writable" in sentence
    assert "damaged" not in sentence and "move it aside to start afresh" not in sentence


def test_a_read_only_state_file_is_said_so(importer: Importer) -> None:
    planning = importer.planning("tournee.xlsx", rows_for(1, 3))
    assert importer("run", planning).exit_code == 0
    subprocess.run(["chattr", "+i", str(importer.state)], check=True)
    try:
        result = importer("run", planning)
    finally:
        subprocess.run(["chattr", "-i", str(importer.state)], check=True)
    assert result.exit_code == 3
    assert "is read-only" in one_sentence(result.stderr)


# -- storage faults: a stop with a sentence, the workbook written, the next run converges


@contextlib.contextmanager
def small_disk(folder: Path, kilobytes: int) -> Iterator[Path]:
    """A real file system of ``kilobytes`` (tmpfs), mounted for the test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small disk needs root (CI runs as root)")
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kilobytes}k", "tmpfs", str(folder)],
                   check=True)  # fmt: skip
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(disk: Path, leave_kilobytes: int) -> Path:
    """Fill ``disk`` up, then free ``leave_kilobytes``."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 4096)
    os.truncate(filler, max(0, filler.stat().st_size - leave_kilobytes * 1024))
    return filler


def test_a_full_disk_mid_push_is_a_stop_and_the_next_run_converges(tmp_path: Path) -> None:
    with (
        SandboxServer(World(seed=7, faults=Faults(latency=0.03))) as sandbox,
        small_disk(tmp_path / "disk", 16384) as disk,
    ):
        importer = Importer(sandbox, tmp_path)
        importer.state = disk / "state.db"
        StateStore(importer.state).close()  # the store exists; then the disk fails
        rows = rows_for(1, 80)
        planning = importer.planning("tournee.xlsx", rows)
        report = tmp_path / "tournee.results.xlsx"
        process = importer.in_a_process(planning, "--concurrency", "2", "--report", str(report))
        filler = fill(disk, leave_kilobytes=96)
        out, err = process.communicate(timeout=120)
        assert process.returncode == 3, out + err
        assert "could not be written" in one_sentence(err)
        assert report.exists()  # the workbook, with what was done, on a disk that has room
        assert 0 < len(importer.mutating_calls()) < 80

        filler.unlink()
        again = importer("run", planning, "--report", str(report))
        assert again.exit_code == 0, again.output
        assert sorted(importer.missions()) == sorted(r["idMission"] for r in rows)
        assert created_twice(importer) == []


def test_a_workbook_write_killed_midway_leaves_temporaries_the_next_run_removes(
    tmp_path: Path,
) -> None:
    planning = write_planning(tmp_path / "gros.csv", rows_for(1, 60_000))
    report = tmp_path / "gros.validation.xlsx"
    command = [sys.executable, "-m", "importer", "validate", str(planning)]
    writing = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    pattern = f".{report.name}.ocean-import-{writing.pid}-*"
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(pattern)) and time.monotonic() < deadline:
        time.sleep(0.005)
    writing.kill()  # mid-write: the temporary folder stays behind
    writing.wait()
    assert list(tmp_path.glob(pattern)) and not report.exists()
    someone_elses = tmp_path / f".{report.name}.ocean-import-{os.getpid()}-alive"
    someone_elses.mkdir()  # a live process's temporary is never touched

    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert report.exists()
    assert list(tmp_path.glob(".*ocean-import-*")) == [someone_elses]
