"""The sandbox answers the way the vendor documents, over real HTTP on a loopback port.

These tests use plain httpx, as the vendor's quick-start does, so that the sandbox is checked
against the documentation and not against our own client.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from importer.cli import main
from importer.sandbox import FAILURE_KINDS, Account, Faults, SandboxServer, World
from tests.helpers import FakeClock

MISSION = {
    "idMission": "LIV-001",
    "jourHeureInter": "24/11/2026 07:30",
    "jourHeurePeremp": "24/11/2026 18:00",
    "typeMission": "Livraison",
    "nomVeh": "VAN 12",
    "commentaire": "Sonner deux fois",
    "rue": "12 rue de la Paix",
    "codPost": "75002",
    "ville": "Paris",
    "aEnvoyer": "true",
    "latitude": "48.8686",
    "longitude": "2.3311",
}


@pytest.fixture
def http(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.base_url + "/") as client:
        yield client


def token_for(http: httpx.Client, login: str = "demo", password: str = "demo") -> dict[str, str]:
    answer = http.post("auth/authenticate2", json={"login": login, "password": password})
    assert answer.status_code == 200, answer.text
    return {"X-AUTH-TOKEN": answer.json()["token"]}


def test_the_vendors_documented_usage_gets_the_documented_answers(http: httpx.Client) -> None:
    # 1. authenticate2 with a JSON body.
    login = http.post("auth/authenticate2", json={"login": "demo", "password": "demo"})
    assert login.status_code == 200
    body = login.json()
    assert set(body) == {"token", "passwordExpirationRemainingDays", "additionalAccountData"}
    assert isinstance(body["passwordExpirationRemainingDays"], int)
    headers = {"X-AUTH-TOKEN": body["token"]}

    # 2. ajoutMission with query parameters and the token header.
    created = http.post("geomission/ajoutMission", params=MISSION, headers=headers)
    assert created.status_code in (200, 201)
    assert created.headers["content-type"].startswith("application/json")
    assert set(created.json()) == {"message"}
    assert "succès" in created.json()["message"]

    # 3. statutMission: the documented result shape, all strings.
    status = http.get("geomission/statutMission", params={"idMission": "LIV-001"}, headers=headers)
    assert status.status_code == 200
    assert set(status.json()) == {
        "commentRefuseReason", "complement", "externalMissionId", "status", "statusCode", "time",
    }  # fmt: skip
    assert all(isinstance(value, str) for value in status.json().values())
    assert status.json()["status"] == "Envoyée"
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", status.json()["time"])


def test_bad_credentials_are_refused_with_401(http: httpx.Client) -> None:
    answer = http.post("auth/authenticate2", json={"login": "demo", "password": "wrong"})
    assert answer.status_code == 401
    assert answer.json() == {"message": "Identifiant ou mot de passe incorrect."}


def test_the_legacy_form_login_is_not_understood(http: httpx.Client) -> None:
    answer = http.post("auth/authenticate2", params={"login": "demo", "password": "demo"})
    assert answer.status_code == 400
    assert "JSON" in answer.json()["message"]


@pytest.mark.parametrize(
    "headers, expected",
    [({}, "en-tête X-AUTH-TOKEN absent"), ({"X-AUTH-TOKEN": "forged"}, "invalide ou expiré")],
    ids=["no-token", "unknown-token"],
)
def test_mission_calls_need_a_valid_token(
    http: httpx.Client, headers: dict[str, str], expected: str
) -> None:
    answer = http.post("geomission/ajoutMission", params=MISSION, headers=headers)
    assert answer.status_code == 401
    assert expected in answer.json()["message"]


def test_a_token_expires_after_its_lifetime() -> None:
    clock = FakeClock()
    with (
        SandboxServer(World(clock=clock)) as sandbox,
        httpx.Client(base_url=sandbox.base_url + "/") as http,
    ):
        headers = token_for(http)
        clock.advance(12 * 3600 - 1)
        assert (
            http.post("geomission/ajoutMission", params=MISSION, headers=headers).status_code == 201
        )
        clock.advance(2)
        answer = http.get(
            "geomission/statutMission", params={"idMission": "LIV-001"}, headers=headers
        )
        assert answer.status_code == 401


def test_form_parameters_are_accepted_like_query_parameters(
    http: httpx.Client, sandbox: SandboxServer
) -> None:
    headers = token_for(http)
    assert http.post("geomission/ajoutMission", data=MISSION, headers=headers).status_code == 201
    changed = {**MISSION, "commentaire": "Appeler avant"}
    assert http.post("geomission/modifierMission", data=changed, headers=headers).status_code == 200
    [mission] = sandbox.world.missions()
    assert mission["commentaire"] == "Appeler avant"
    assert [entry.via for entry in sandbox.world.requests()[1:]] == ["form", "form"]


def test_a_json_body_is_not_understood(http: httpx.Client, sandbox: SandboxServer) -> None:
    headers = token_for(http)
    answer = http.post("geomission/ajoutMission", json=MISSION, headers=headers)
    assert answer.status_code == 400
    assert answer.json()["message"] == "Le paramètre obligatoire « idMission » est absent."
    assert sandbox.world.missions() == []


def test_create_of_an_existing_mission_is_refused(
    http: httpx.Client, sandbox: SandboxServer
) -> None:
    headers = token_for(http)
    assert http.post("geomission/ajoutMission", params=MISSION, headers=headers).status_code == 201
    again = http.post(
        "geomission/ajoutMission", params={**MISSION, "ville": "Lyon"}, headers=headers
    )
    assert again.status_code == 400
    assert "existe déjà" in again.json()["message"]
    assert [m["ville"] for m in sandbox.world.missions()] == ["Paris"]


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "geomission/modifierMission"),
        ("GET", "geomission/statutMission"),
        ("POST", "geomission/supprimerMission"),
    ],
    ids=["modify", "status", "delete"],
)
def test_an_unknown_mission_is_404(http: httpx.Client, method: str, path: str) -> None:
    params = MISSION if "modifier" in path else {"idMission": "NOPE"}
    answer = http.request(method, path, params=params, headers=token_for(http))
    assert answer.status_code == 404
    assert "introuvable" in answer.json()["message"]


def test_modify_replaces_the_mission_and_delete_removes_it(
    http: httpx.Client, sandbox: SandboxServer
) -> None:
    headers = token_for(http)
    http.post("geomission/ajoutMission", params=MISSION, headers=headers)
    smaller = {k: v for k, v in MISSION.items() if k != "commentaire"}
    assert (
        http.post("geomission/modifierMission", params=smaller, headers=headers).status_code == 200
    )
    [mission] = sandbox.world.missions()
    assert "commentaire" not in mission
    assert mission["version"] == 2
    deleted = http.post(
        "geomission/supprimerMission", params={"idMission": "LIV-001"}, headers=headers
    )
    assert deleted.status_code == 200
    assert "supprimée" in deleted.json()["message"]
    assert sandbox.world.missions() == []
    # Deletion is physical: the same id can be created again.
    assert http.post("geomission/ajoutMission", params=MISSION, headers=headers).status_code == 201


@pytest.mark.parametrize(
    "change, http_status, expected",
    [
        ({"jourHeureInter": "2026-11-24 07:30"}, 422, "Format de date invalide pour « jourHeureInter »"),
        ({"jourHeureInter": "24/11/202607:30"}, 422, "Format de date invalide"),
        ({"jourHeureInter": "31/02/2026 07:30"}, 422, "Format de date invalide"),
        ({"jourHeurePeremp": "24/11/2026 7:30"}, 422, "« jourHeurePeremp »"),
        ({"jourHeureInter": ""}, 400, "« jourHeureInter » est absent"),
        ({"aEnvoyer": "vrai"}, 400, "Valeur invalide pour « aEnvoyer »"),
        ({"latitude": "48,8686"}, 400, "Valeur numérique invalide pour « latitude »"),
        ({"longitude": "200"}, 400, "« longitude » hors limites"),
        ({"customerId": "abc"}, 400, "doit être un entier"),
        ({"nomVehicule": "VAN 12"}, 400, "Paramètre inconnu : « nomVehicule »"),
    ],
    ids=["iso-date", "no-space", "31-february", "one-digit-hour", "no-date", "french-boolean",
         "decimal-comma", "longitude-range", "customer-not-a-number", "unknown-parameter"],
)  # fmt: skip
def test_formats_are_checked_strictly(
    http: httpx.Client,
    sandbox: SandboxServer,
    change: dict[str, str],
    http_status: int,
    expected: str,
) -> None:
    answer = http.post(
        "geomission/ajoutMission", params={**MISSION, **change}, headers=token_for(http)
    )
    assert answer.status_code == http_status
    assert expected in answer.json()["message"]
    assert sandbox.world.missions() == []


def test_a_repeated_parameter_is_refused(http: httpx.Client) -> None:
    params = [*MISSION.items(), ("nomVeh", "VAN 13")]
    answer = http.post("geomission/ajoutMission", params=params, headers=token_for(http))
    assert answer.status_code == 400
    assert "répété" in answer.json()["message"]


def test_a_multi_client_login_must_name_an_allowed_customer() -> None:
    world = World([Account("groupe", "s3cret", customers=(10, 20))])
    with SandboxServer(world) as sandbox, httpx.Client(base_url=sandbox.base_url + "/") as http:
        headers = token_for(http, "groupe", "s3cret")
        missing = http.post("geomission/ajoutMission", params=MISSION, headers=headers)
        assert missing.status_code == 400
        assert "obligatoire pour un utilisateur multi-clients" in missing.json()["message"]
        other = http.post(
            "geomission/ajoutMission", params={**MISSION, "customerId": "30"}, headers=headers
        )
        assert other.status_code == 403
        for customer in ("10", "20"):
            answer = http.post(
                "geomission/ajoutMission",
                params={**MISSION, "customerId": customer},
                headers=headers,
            )
            assert answer.status_code == 201
        # The same idMission lives once per customer.
        assert sorted(m["customerId"] for m in world.missions()) == [10, 20]
        status = http.get(
            "geomission/statutMission",
            params={"idMission": "LIV-001", "customerId": "20"},
            headers=headers,
        )
        assert status.status_code == 200


def test_a_single_client_login_is_refused_another_customer(http: httpx.Client) -> None:
    answer = http.post(
        "geomission/ajoutMission", params={**MISSION, "customerId": "9999"}, headers=token_for(http)
    )
    assert answer.status_code == 403
    assert "n'a pas accès au client 9999" in answer.json()["message"]


def test_statuses_move_on_over_time() -> None:
    clock = FakeClock()
    world = World(clock=clock, faults=Faults(status_step=60, refuse_share=0.5))
    with SandboxServer(world) as sandbox, httpx.Client(base_url=sandbox.base_url + "/") as http:
        headers = token_for(http)
        ids = [f"M{n}" for n in range(20)]
        for id_mission in ids:
            http.post(
                "geomission/ajoutMission",
                params={**MISSION, "idMission": id_mission},
                headers=headers,
            )
        prepared = {**MISSION, "idMission": "PREP", "aEnvoyer": "false"}
        http.post("geomission/ajoutMission", params=prepared, headers=headers)

        def statuses() -> dict[str, dict[str, str]]:
            return {
                id_mission: http.get(
                    "geomission/statutMission", params={"idMission": id_mission}, headers=headers
                ).json()
                for id_mission in [*ids, "PREP"]
            }

        first = statuses()
        assert {first[i]["status"] for i in ids} == {"Envoyée"}
        assert first["PREP"]["status"] == "Préparée"
        clock.advance(60)
        assert {s["status"] for i, s in statuses().items() if i != "PREP"} == {"Reçue"}
        clock.advance(60)
        decided = statuses()
        refused = [i for i in ids if decided[i]["status"] == "Refusée"]
        accepted = [i for i in ids if decided[i]["status"] == "Acceptée"]
        assert refused and accepted and len(refused) + len(accepted) == len(ids)
        assert all(decided[i]["commentRefuseReason"] for i in refused)
        assert not any(decided[i]["commentRefuseReason"] for i in accepted)
        assert decided["PREP"]["status"] == "Préparée"
        # Once the intervention time has passed, accepted missions are done.
        clock.now = time.mktime((2026, 11, 25, 0, 0, 0, 0, 0, 0))
        headers.update(token_for(http))  # a day later, the first token has expired
        done = statuses()
        assert {done[i]["status"] for i in accepted} == {"Terminée"}
        assert {done[i]["status"] for i in refused} == {"Refusée"}


def test_the_listing_endpoints_show_missions_and_requests(
    http: httpx.Client, sandbox: SandboxServer
) -> None:
    headers = token_for(http)
    http.post("geomission/ajoutMission", params=MISSION, headers=headers)
    control = httpx.Client(base_url=sandbox.control_url + "/")
    [listed] = control.get("missions").json()
    assert listed["idMission"] == "LIV-001"
    assert listed["customerId"] == 4242
    assert listed["status"] == "Envoyée"
    log = control.get("requests").json()
    assert [(e["operation"], e["http_status"]) for e in log] == [
        ("authenticate", 200),
        ("create", 201),
    ]
    # Read-only: the listing refuses changes.
    assert control.post("missions").status_code == 405
    control.close()


def test_faults_can_be_changed_while_it_runs(http: httpx.Client, sandbox: SandboxServer) -> None:
    control = httpx.Client(base_url=sandbox.control_url + "/")
    assert control.post("faults", json={"error_share": 1.0}).status_code == 200
    answer = http.post("auth/authenticate2", json={"login": "demo", "password": "demo"})
    assert answer.status_code in (500, 503)
    assert control.post("faults", json={"error_shar": 1.0}).status_code == 400
    control.post("faults", json={"error_share": 0})
    assert (
        control.post("script", json={"idMission": "LIV-001", "failures": ["429"]}).status_code
        == 200
    )
    headers = token_for(http)
    throttled = http.post("geomission/ajoutMission", params=MISSION, headers=headers)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "1"
    assert http.post("geomission/ajoutMission", params=MISSION, headers=headers).status_code == 201
    control.close()


def test_a_rate_limit_answers_429_with_or_without_retry_after() -> None:
    clock = FakeClock()  # a frozen clock: every request falls in the same second
    world = World(clock=clock, faults=Faults(rate_limit=3))
    with SandboxServer(world) as sandbox, httpx.Client(base_url=sandbox.base_url + "/") as http:
        codes = [
            http.post("auth/authenticate2", json={"login": "demo", "password": "demo"})
            for _ in range(5)
        ]
        assert [c.status_code for c in codes] == [200, 200, 200, 429, 429]
        assert codes[-1].headers["Retry-After"] == "1"
        world.faults.retry_after = False
        assert "Retry-After" not in http.post("auth/authenticate2", json={}).headers
        clock.advance(1)
        assert (
            http.post("auth/authenticate2", json={"login": "demo", "password": "demo"}).status_code
            == 200
        )


@pytest.mark.parametrize("kind, applied", [("drop-before", False), ("drop-after", True)])
def test_a_dropped_connection_leaves_the_change_applied_or_not(
    http: httpx.Client, sandbox: SandboxServer, kind: str, applied: bool
) -> None:
    headers = token_for(http)
    sandbox.world.script("LIV-001", kind)
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("geomission/ajoutMission", params=MISSION, headers=headers)
    assert bool(sandbox.world.missions()) is applied
    assert sandbox.world.requests()[-1].fault == kind


def test_a_scripted_refusal_is_a_200_whose_message_reports_failure(
    http: httpx.Client, sandbox: SandboxServer
) -> None:
    sandbox.world.script("LIV-001", "refuse")
    answer = http.post("geomission/ajoutMission", params=MISSION, headers=token_for(http))
    assert answer.status_code == 200
    assert answer.json()["message"].startswith("Échec")
    assert sandbox.world.missions() == []


def test_a_scripted_expiry_is_a_401_and_the_next_call_goes_through(
    http: httpx.Client, sandbox: SandboxServer
) -> None:
    sandbox.world.script("LIV-001", "expired")
    headers = token_for(http)
    refused = http.post("geomission/ajoutMission", params=MISSION, headers=headers)
    assert refused.status_code == 401 and "expiré" in refused.json()["message"]
    assert sandbox.world.missions() == []
    again = http.post("geomission/ajoutMission", params=MISSION, headers=token_for(http))
    assert again.status_code == 201 and len(sandbox.world.missions()) == 1


def test_latency_delays_every_answer() -> None:
    world = World(faults=Faults(latency=0.2, jitter=0.05))
    with SandboxServer(world) as sandbox, httpx.Client(base_url=sandbox.base_url + "/") as http:
        started = time.perf_counter()
        http.post("auth/authenticate2", json={"login": "demo", "password": "demo"})
        assert time.perf_counter() - started >= 0.2


def test_a_restart_on_the_same_world_keeps_the_missions() -> None:
    world = World()
    with SandboxServer(world) as first, httpx.Client(base_url=first.base_url + "/") as http:
        http.post("geomission/ajoutMission", params=MISSION, headers=token_for(http))
        port = first.port
    with SandboxServer(world, port=port) as second:
        assert second.port == port
        assert [m["idMission"] for m in world.missions()] == ["LIV-001"]


def test_a_status_set_by_hand_holds_until_a_modify_and_a_mission_can_vanish(
    sandbox: SandboxServer,
) -> None:
    """What the importer's protection and drift tests stand on, over the sandbox's routes."""
    with httpx.Client(base_url=sandbox.base_url + "/") as http:
        headers = token_for(http, "demo", "demo")
        assert (
            http.post("geomission/ajoutMission", params=MISSION, headers=headers).status_code == 201
        )
        control = f"{sandbox.url}/_sandbox/missions/LIV-001"
        assert httpx.post(f"{control}/status", json={"status": "Acceptée", "statusCode": "3"}
                          ).status_code == 200  # fmt: skip
        status = http.get("geomission/statutMission", params={"idMission": "LIV-001"},
                          headers=headers).json()  # fmt: skip
        assert (status["status"], status["statusCode"]) == ("Acceptée", "3")
        http.post("geomission/modifierMission", params=MISSION, headers=headers)
        status = http.get("geomission/statutMission", params={"idMission": "LIV-001"},
                          headers=headers).json()  # fmt: skip
        assert status["status"] == "Envoyée"  # sent again: the driver starts over
        assert httpx.delete(control).status_code == 200
        assert httpx.delete(control).status_code == 404
        gone = http.get("geomission/statutMission", params={"idMission": "LIV-001"},
                        headers=headers)  # fmt: skip
        assert gone.status_code == 404


# -- the command -------------------------------------------------------------------------


def test_sandbox_help_documents_every_fault() -> None:
    wide = {"terminal_width": 400, "max_content_width": 400}  # no wrapping inside a word
    help_text = CliRunner().invoke(main, ["sandbox", "--help"], **wide).output
    flags = ["--latency", "--jitter", "--error-share", "--rate-limit", "--no-retry-after",
             "--drop-before", "--drop-after", "--token-lifetime", "--token-uses", "--fail-mission",
             "--slow-seconds", "--status-step", "--refuse-share", "--seed"]  # fmt: skip
    for flag in flags:
        assert flag in help_text
    flat = " ".join(help_text.split())
    for kind in FAILURE_KINDS:
        assert f"{kind} =" in flat
    # Every fault the world knows has a flag.
    assert set(vars(Faults())) == {
        "latency", "jitter", "error_share", "rate_limit", "retry_after", "drop_before_share",
        "drop_after_share", "slow_seconds", "token_lifetime", "token_uses", "status_step",
        "refuse_share",
    }  # fmt: skip


def test_the_sandbox_command_serves_and_never_prints_the_password(unused_port: int) -> None:
    command = [sys.executable, "-m", "importer", "sandbox", "--port", str(unused_port),
               "--login", "dispatch", "--password", "Tr0ub4dor&3", "--customer", "7",
               "--status", "LIV-001=En cours"]  # fmt: skip
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as server:
        try:
            assert server.stdout is not None
            banner = "".join(iter(server.stdout.readline, "  Ctrl-C to stop\n"))
            base_url = f"http://127.0.0.1:{unused_port}/ocean/restapi"
            assert base_url in banner
            with httpx.Client(base_url=base_url + "/") as http:
                headers = token_for(http, "dispatch", "Tr0ub4dor&3")
                created = http.post(
                    "geomission/ajoutMission",
                    params={**MISSION, "customerId": "7"},
                    headers=headers,
                )
                assert created.status_code == 201
                status = http.get("geomission/statutMission", params={"idMission": "LIV-001",
                                  "customerId": "7"}, headers=headers)  # fmt: skip
                assert status.json()["status"] == "En cours"  # as --status set it
        finally:
            server.terminate()
            out, err = server.communicate(timeout=10)
    assert server.returncode == 0
    assert "dispatch" in banner + out
    assert "Tr0ub4dor&3" not in banner + out + err


def test_the_sandbox_command_refuses_a_port_in_use(sandbox: SandboxServer) -> None:
    result = CliRunner().invoke(main, ["sandbox", "--port", str(sandbox.port)])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{sandbox.port}" in result.output


@pytest.mark.parametrize(
    ("command", "path"),
    [(["sandbox", "-v"], "/_sandbox/missions"), (["serve", "--sandbox", "-v"], "/login")],
    ids=["sandbox", "serve"],
)
def test_the_serving_commands_log_json_when_asked(
    unused_port: int, tmp_path: Path, command: list[str], path: str
) -> None:
    """`--log-format json` on every command: one JSON object per stderr line, uvicorn's too."""
    args = [sys.executable, "-m", "importer", *command, "--port", str(unused_port),
            "--log-format", "json"]  # fmt: skip
    if command[0] == "serve":
        args += ["--work", str(tmp_path / "web")]
    with subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    ) as server:
        try:
            answer = None
            for _ in range(200):
                try:
                    answer = httpx.get(f"http://127.0.0.1:{unused_port}{path}", timeout=5)
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            assert answer is not None and answer.status_code == 200
        finally:
            server.terminate()
            _, err = server.communicate(timeout=20)
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "nothing logged"
    entries = [json.loads(line) for line in lines]  # every line is JSON
    assert all({"time", "level", "event"} <= set(entry) for entry in entries)
