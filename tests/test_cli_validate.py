"""`ocean-import validate` as a dispatcher and a scheduler use it: exit codes, output, workbook."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from importer.cli import main
from tests.helpers import SAMPLE_CONFIG as CONFIG
from tests.helpers import (
    load_make_samples,
    mission,
    read_sheet,
    upcoming_mission,
    write_planning,
)

make_samples = load_make_samples()


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(name="samples")
def samples_copy(samples: Path, tmp_path: Path) -> Path:
    """A copy of the samples, so that default report paths land in this test's folder."""
    for name in ("planning-clean.xlsx", "planning-clean.csv", "planning-broken.xlsx"):
        shutil.copy(samples / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize("name", ["planning-clean.xlsx", "planning-clean.csv"])
def test_clean_sample_is_valid_and_its_report_lists_every_row(samples: Path, name: str) -> None:
    result = invoke("validate", str(samples / name), "--config", str(CONFIG))

    assert result.exit_code == 0, result.output
    assert "36 rows read, 36 valid, 0 invalid; 0 errors, 0 warnings" in result.output
    report = samples / name.replace(".xlsx", ".validation.xlsx").replace(".csv", ".validation.xlsx")
    rows = read_sheet(report, "Results")
    assert len(rows) == 36
    assert {r["verdict"] for r in rows} <= {"valid", "warning"}
    assert [r["row"] for r in rows][:2] == ([4, 5] if name.endswith("xlsx") else [2, 3])


def test_broken_sample_reports_every_seeded_problem_at_its_row_and_column(
    samples: Path, sample_start: dt.date
) -> None:
    result = invoke("validate", str(samples / "planning-broken.xlsx"), "--config", str(CONFIG))

    assert result.exit_code == 1
    errors = read_sheet(samples / "planning-broken.validation.xlsx", "Errors")
    found = {(e["row"], e["column"], e["severity"]) for e in errors}
    expected = make_samples.broken_expected(sample_start)
    assert len(expected) >= 29
    labels = make_samples.BROKEN_HEADERS
    for row, field, kind in expected:
        column = labels[make_samples.FIELD_INDEX[field]]
        severity = "warning" if kind in WARNING_KINDS else "error"
        assert (row, column, severity) in found, (row, field, kind)
    assert "Remarques" in {e["column"] for e in errors if e["row"] == 3}  # the unknown column
    results = read_sheet(samples / "planning-broken.validation.xlsx", "Results")
    verdicts = {r["row"]: r["verdict"] for r in results}
    for row, _field, kind in expected:
        assert verdicts[row] == ("warning" if kind in WARNING_KINDS else "invalid"), (row, kind)


WARNING_KINDS = {
    "vehicle_and_individual", "postcode_zero_restored", "address_name_long", "seconds_dropped",
    "date_without_time", "time_repeated_by_clock_change", "past_intervention", "no_location",
}  # fmt: skip


def test_terminal_summary_groups_problems_and_caps_each_group(tmp_path: Path) -> None:
    rows = [mission(idMission=f"M-{n}", latitude=100.0 + n) for n in range(8)]
    path = write_planning(tmp_path / "p.csv", rows)
    result = invoke("validate", str(path), "--no-report")

    assert result.exit_code == 1
    assert "latitude out of range (8)" in result.output
    assert "row 2, latitude (K2): latitude '100.0' is out of range" in result.output
    assert "...and 3 more" in result.output
    assert not list(tmp_path.glob("*.xlsx"))  # --no-report writes nothing


def test_json_summary_for_machines(tmp_path: Path) -> None:
    rows = [upcoming_mission(), upcoming_mission(idMission="M-2", aEnvoyer="?")]
    path = write_planning(tmp_path / "p.csv", rows)
    result = invoke("validate", str(path), "--json", "--report", str(tmp_path / "r.xlsx"))

    summary = json.loads(result.output)
    assert result.exit_code == 1 and summary["exit_code"] == 1
    assert (summary["rows"], summary["valid"], summary["invalid"]) == (2, 1, 1)
    assert summary["problems"] == [
        {"row": 3, "cell": "J3", "column": "aEnvoyer", "value": "?", "severity": "error",
         "kind": "flag_value", "problem": summary["problems"][0]["problem"]}
    ]  # fmt: skip
    assert summary["report"] == str(tmp_path / "r.xlsx") and (tmp_path / "r.xlsx").exists()


def test_the_process_ends_with_the_commands_code_and_everything_it_said(tmp_path: Path) -> None:
    """A command's process skips the interpreter's teardown (``importer.cli.leave``): its
    exit code and every line it printed still come out whole, through pipes."""
    rows = [upcoming_mission(idMission=f"M-{n}") for n in range(300)]
    rows += [upcoming_mission(idMission="M-bad", aEnvoyer="?")]
    path = write_planning(tmp_path / "p.csv", rows)

    def process(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "importer", "--lang", "en", "validate", str(path), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    machine = process("--json", "--report", str(tmp_path / "r.xlsx"))
    summary = json.loads(machine.stdout)
    assert machine.returncode == 1 and summary["exit_code"] == 1
    assert (summary["rows"], summary["invalid"]) == (301, 1)
    assert (tmp_path / "r.xlsx").exists()
    person = process("--no-report")
    assert person.returncode == 1
    assert person.stdout.rstrip().endswith(
        "row 302, aEnvoyer (J302): " + summary["problems"][0]["problem"]
    )
    path.write_text(path.read_text(encoding="utf-8").replace(";?", ";oui"), encoding="utf-8")
    assert process("--no-report").returncode == 0


def test_unusable_file_exits_2_with_one_sentence_and_no_traceback(tmp_path: Path) -> None:
    corrupt = tmp_path / "planning.xlsx"
    corrupt.write_bytes(b"PK\x03\x04 not really a workbook")
    completed = subprocess.run(
        [sys.executable, "-m", "importer", "validate", str(corrupt)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert completed.returncode == 2
    assert completed.stdout == ""
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ocean-import: planning.xlsx: is damaged")
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "planning.validation.xlsx").exists()


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["--timezone", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
        (["--sheet", "Jeudi"], "no sheet named 'Jeudi'"),
        (["--config", "missing.toml"], "configuration file missing.toml does not exist"),
    ],
    ids=["bad-timezone", "missing-sheet", "missing-config"],
)
def test_bad_settings_exit_2_with_a_sentence(samples: Path, args: list[str], sentence: str) -> None:
    result = invoke("validate", str(samples / "planning-clean.xlsx"), *args)
    assert result.exit_code == 2
    assert sentence in result.stderr


def test_config_with_an_unknown_key_is_refused_with_a_suggestion(samples: Path) -> None:
    config = samples / "bad.toml"
    config.write_text('timezon = "Europe/Paris"\n', encoding="utf-8")
    result = invoke("validate", str(samples / "planning-clean.xlsx"), "--config", str(config))
    assert result.exit_code == 2
    assert "unknown setting timezon" in result.stderr and "did you mean timezone?" in result.stderr


def test_report_never_overwrites_the_planning(samples: Path) -> None:
    planning = samples / "planning-clean.xlsx"
    before = planning.read_bytes()
    result = invoke("validate", str(planning), "--report", str(planning))
    assert result.exit_code == 2
    assert planning.read_bytes() == before


def test_every_command_has_help() -> None:
    for name, command in main.commands.items():
        assert command.help and len(command.help) > 20, name
        assert invoke(name, "--help").exit_code == 0


def test_counts_of_one_are_singular(tmp_path: Path) -> None:
    rows = [upcoming_mission(codPost=1000), upcoming_mission(idMission="M-2", aEnvoyer="?")]
    path = write_planning(tmp_path / "p.csv", rows)
    result = invoke("validate", str(path), "--no-report")
    assert "2 rows read, 1 valid, 1 invalid; 1 error, 1 warning" in result.output
    planned = invoke("plan", str(path), "--no-report", "--state", str(tmp_path / "state.db"))
    assert "1 invalid row was not sent" in planned.output
