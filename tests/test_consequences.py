"""Every consequence visible before it happens: the time zone named, "prepared, not sent"
said, the missions kept shown, the missions a driver has in hand protected, and what Ocean
lost behind the importer's back created again. The real CLI against the sandbox."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
from click.testing import CliRunner, Result

from importer.cli import main
from importer.sandbox import SandboxServer
from tests.helpers import CUSTOMER, HEADERS, Importer, mission, read_sheet, rows_for


def next_date(month: int, day: int = 15) -> dt.date:
    """The next ``day``/``month`` after today: a January and a July that are never past."""
    today = dt.date.today()
    candidate = dt.date(today.year, month, day)
    return (
        candidate
        if candidate > today + dt.timedelta(days=2)
        else candidate.replace(year=today.year + 1)
    )


def test_a_french_planning_with_no_configuration_is_read_in_paris_time(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    importer = Importer(sandbox, tmp_path)
    importer.config.write_text(f"customer_id = {CUSTOMER}\n")  # no time zone anywhere
    winter = dt.datetime.combine(next_date(1), dt.time(8, 0))
    summer = dt.datetime.combine(next_date(7), dt.time(8, 0))
    planning = importer.planning("tournee.xlsx", [
        mission(idMission="HIVER", jourHeureInter=winter, jourHeurePeremp=None),
        mission(idMission="ETE", jourHeureInter=summer, jourHeurePeremp=None),
    ])  # fmt: skip
    validation = CliRunner().invoke(main, ["validate", str(planning), "--config",
                                           str(importer.config), "--no-report"])  # fmt: skip
    run = importer("run", planning)
    assert run.exit_code == 0, run.output
    held = importer.missions()
    assert held["HIVER"]["jourHeureInter"] == f"{winter:%d/%m/%Y} 07:00"  # UTC+1 in winter
    assert held["ETE"]["jourHeureInter"] == f"{summer:%d/%m/%Y} 06:00"  # UTC+2 in summer
    default = "times in Europe/Paris, the default zone (timezone in the configuration"
    assert default in validation.output and default in run.output
    summary = dict((row["item"], row["value"]) for row in read_sheet(
        planning.with_name("tournee.results.xlsx"), "Summary"))  # fmt: skip
    assert summary["time zone"].startswith("times in Europe/Paris, the default zone")
    as_json = json.loads(importer("plan", planning, "--json").output)
    assert as_json["timezone"] == "Europe/Paris" and as_json["timezone_default"] is True
    importer.config.write_text(f'customer_id = {CUSTOMER}\ntimezone = "Europe/Paris"\n')
    configured = importer("plan", planning)
    assert "times in Europe/Paris)" in configured.output and "default zone" not in configured.output


def test_a_file_that_sends_nothing_to_the_vehicles_says_so_everywhere(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    importer = Importer(sandbox, tmp_path)
    rows = rows_for(1, 3)
    without = [h for h in HEADERS if h != "aEnvoyer"]
    no_column = importer.planning("sans-colonne.xlsx", [{h: r.get(h) for h in without}
                                                         for r in rows])  # fmt: skip
    outputs = {
        "validate": CliRunner().invoke(main, ["validate", str(no_column), "--config",
                                              str(importer.config), "--no-report"]).output,
        "plan": importer("plan", no_column).output,
        "run": importer("run", no_column).output,
    }  # fmt: skip
    for command, said in outputs.items():
        assert "none of the 3 valid missions will be sent to the vehicles" in " ".join(
            said.split()
        ), command
        assert "no « À envoyer » column" in " ".join(said.split()), command
    assert {m["aEnvoyer"] for m in importer.missions().values()} == {"false"}
    all_false = importer.planning("tous-non.xlsx", [dict(r, aEnvoyer=False) for r in
                                                    rows_for(2, 2, prefix="N")])  # fmt: skip
    plan = json.loads(importer("plan", all_false, "--json").output)
    assert [n["kind"] for n in plan["notices"]] == ["not_sent"]
    assert "no row of the column 'aEnvoyer' asks for it" in plan["notices"][0]["message"]
    sending = importer.planning("envoi.xlsx", rows_for(3, 2, prefix="E"))
    assert json.loads(importer("plan", sending, "--json").output)["notices"] == []


def kept_lines(planning: Path) -> list[dict[str, object]]:
    lines = read_sheet(planning.with_name(f"{planning.stem}.results.xlsx"), "Results")
    return [line for line in lines if line["action"] == "kept"]


def test_a_removed_row_on_a_day_the_file_no_longer_covers_is_kept_and_said_so(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    importer = Importer(sandbox, tmp_path)
    monday, tuesday, wednesday = rows_for(1, 2), rows_for(2, 1), rows_for(3, 2)
    planning = importer.planning("semaine.xlsx", monday + tuesday + wednesday)
    assert importer("run", planning).exit_code == 0
    lone = tuesday[0]["idMission"]
    importer.planning("semaine.xlsx", monday + wednesday)  # the only mission of a day removed
    plan = importer("plan", planning)
    flat = " ".join(plan.output.split())
    assert "1 mission no longer in the file is kept in Ocean:" in flat
    assert f"mission {lone}: no longer in the file, but its day is not one the file covers" in flat
    run = importer("run", planning)
    assert run.exit_code == 0 and lone in importer.missions()
    assert [line["idMission"] for line in kept_lines(planning)] == [lone]
    as_json = json.loads(importer("plan", planning, "--json").output)
    assert as_json["kept"] == [{"idMission": lone, "customerId": CUSTOMER,
                                "reason": "outside_scope"}]  # fmt: skip
    ranged = importer("run", planning, "--scope", "range")
    assert ranged.exit_code == 0 and lone not in importer.missions()
    assert ("delete", lone, 200) in importer.mutating_calls()


def test_the_configuration_gives_a_feed_its_own_scope(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    importer = Importer(sandbox, tmp_path)
    importer.config.write_text(importer.config.read_text() + '\n[feeds.hebdo]\nscope = "range"\n')
    monday, tuesday, wednesday = rows_for(1, 2), rows_for(2, 1), rows_for(3, 2)
    weekly = importer.planning("hebdo.xlsx", monday + tuesday + wednesday)
    daily = importer.planning("jour.xlsx", rows_for(1, 1, "J") + rows_for(2, 1, "J")
                              + rows_for(3, 1, "J"))  # fmt: skip
    assert importer("run", weekly).exit_code == 0 and importer("run", daily).exit_code == 0
    importer.planning("hebdo.xlsx", monday + wednesday)
    importer.planning("jour.xlsx", rows_for(1, 1, "J") + rows_for(3, 1, "J"))
    assert importer("run", weekly).exit_code == 0 and importer("run", daily).exit_code == 0
    held = importer.missions()
    assert tuesday[0]["idMission"] not in held  # hebdo: range, from the configuration
    assert rows_for(2, 1, "J")[0]["idMission"] in held  # jour: days, the default


def set_status(sandbox: SandboxServer, id_mission: str, status: str, **more: str) -> None:
    """As a driver's screen would, over the sandbox's own HTTP route."""
    answer = httpx.post(f"{sandbox.url}/_sandbox/missions/{id_mission}/status",
                        json={"status": status, **more})  # fmt: skip
    assert answer.status_code == 200, answer.text


def imported(
    sandbox: SandboxServer, folder: Path, count: int
) -> tuple[Importer, list[dict[str, object]], Path]:
    """``count`` missions of tomorrow imported once: the importer, the rows, the planning."""
    importer = Importer(sandbox, folder)
    rows = rows_for(1, count)
    planning = importer.planning("tournee.xlsx", rows)
    assert importer("run", planning).exit_code == 0
    return importer, rows, planning


def test_missions_the_driver_has_in_hand_are_held_until_allow_started(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    importer, rows, planning = imported(sandbox, tmp_path, 4)
    started, accepted, odd, free = (row["idMission"] for row in rows)
    set_status(sandbox, started, "En cours")
    set_status(sandbox, accepted, "ACCEPTEE")  # matched without case and accents
    set_status(sandbox, odd, "Bloquée par le dépôt")  # unknown: not protected, listed
    changed = [dict(row, commentaire="Nouveau créneau") for row in rows if row["idMission"]
               != accepted]  # fmt: skip
    importer.planning("tournee.xlsx", changed)  # started and odd modified, accepted removed
    run: Result = importer("run", planning)
    assert run.exit_code == 1, run.output
    held = importer.missions()
    assert held[started]["commentaire"] == "Livraison 0" and accepted in held
    assert held[odd]["commentaire"] == "Nouveau créneau" == held[free]["commentaire"]
    outcomes = {line["idMission"] or line["row"]: line["outcome"] for line in read_sheet(
        planning.with_name("tournee.results.xlsx"), "Results")}  # fmt: skip
    assert outcomes[accepted] == "held"
    flat = " ".join(run.output.split())
    assert (
        "held row 2: the driver has this mission in hand (Ocean: 'En cours'), so it is not modified"
        in flat
    )
    assert "(Ocean: 'ACCEPTEE'), so it is not deleted" in flat
    assert f"so not protected: {odd} (Bloquée par le dépôt" in flat
    forced = importer("run", planning, "--allow-started")
    assert forced.exit_code == 0, forced.output
    held = importer.missions()
    assert held[started]["commentaire"] == "Nouveau créneau" and accepted not in held


def test_without_asking_ocean_nothing_is_protected(sandbox: SandboxServer, tmp_path: Path) -> None:
    importer, rows, planning = imported(sandbox, tmp_path, 2)
    set_status(sandbox, rows[0]["idMission"], "En cours")
    importer.planning("tournee.xlsx", [dict(rows[0], commentaire="Changé"), rows[1]])
    statuses_asked = len([e for e in sandbox.world.requests() if e.operation == "status"])
    assert importer("run", planning, "--no-refresh").exit_code == 0
    assert importer.missions()[rows[0]["idMission"]]["commentaire"] == "Changé"
    assert len([e for e in sandbox.world.requests() if e.operation == "status"]) == statuses_asked


def test_a_mission_deleted_in_ocean_behind_the_importers_back_is_created_again_with_refresh(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    importer, rows, planning = imported(sandbox, tmp_path, 3)
    lost, refused = rows[1]["idMission"], rows[2]["idMission"]
    assert httpx.delete(f"{sandbox.url}/_sandbox/missions/{lost}").status_code == 200
    set_status(sandbox, str(refused), "Refusée", statusCode="4", commentRefuseReason="Quai fermé")
    before = importer("plan", planning, "--json")
    assert json.loads(before.output)["actions"] == {"unchanged": 3}  # as before: not asked
    refreshed = importer("plan", planning, "--refresh")
    flat = " ".join(refreshed.output.split())
    assert "1 create" in flat and "row 3: missing in Ocean (deleted there): created again" in flat
    assert f"1 mission refused by its driver: {refused} (Refusée: Quai fermé" in flat
    statuses = {line["row"]: line["remote_status"] for line in read_sheet(
        planning.with_name("tournee.plan.xlsx"), "Results")}  # fmt: skip
    assert statuses[4].startswith("Refusée: Quai fermé")  # the workbook has it too
    assert lost not in importer.missions()  # a plan changes nothing
    run = importer("run", planning, "--refresh")
    assert run.exit_code == 0, run.output
    assert "1 mission was missing in Ocean (deleted there), and is created again" in " ".join(
        run.output.split()
    )
    assert lost in importer.missions()
    assert importer("run", planning).exit_code == 0
    assert [c for c in importer.mutating_calls() if c[1] == lost] == [("create", lost, 201)] * 2
