"""The Ocean client against the sandbox over loopback HTTP: answers, faults, retries, secrets."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from importer.config import OceanSettings, Secret
from importer.errors import (
    AuthenticationError,
    CircuitOpen,
    ConfigError,
    MissionExists,
    MissionNotFound,
    MissionRejected,
    OceanUnavailable,
)
from importer.ocean.client import TOKEN_LIFETIME_SECONDS, OceanClient
from importer.ocean.resilience import CircuitBreaker
from importer.sandbox import Account, Faults, SandboxServer, World
from tests.helpers import FakeClock, RecordedSleeps, quick_policy

pytestmark = pytest.mark.anyio

PASSWORD = "demo"
MISSION = {
    "customerId": "4242",
    "idMission": "LIV-001",
    "jourHeureInter": "24/11/2026 07:30",
    "typeMission": "Livraison",
    "nomVeh": "VAN 12",
    "ville": "Paris",
    "aEnvoyer": "true",
    "latitude": "48.8686",
    "longitude": "2.3311",
}


def client_for(
    sandbox: SandboxServer,
    sleeps: RecordedSleeps | None = None,
    *,
    password: str = PASSWORD,
    **options: object,
) -> OceanClient:
    return OceanClient(
        sandbox.base_url,
        "demo",
        Secret(password),
        retry=quick_policy(sleeps if sleeps is not None else RecordedSleeps()),
        **options,  # type: ignore[arg-type]
    )


def requests(world: World, operation: str) -> list[tuple[int, str | None]]:
    return [(e.http_status, e.fault) for e in world.requests() if e.operation == operation]


# -- the four operations ---------------------------------------------------------------


async def test_create_modify_status_delete(sandbox: SandboxServer) -> None:
    async with client_for(sandbox) as ocean:
        created = await ocean.create(MISSION)
        assert (created.http_status, created.attempts) == (201, 1)
        assert created.message == "Mission « LIV-001 » créée avec succès."
        modified = await ocean.modify({**MISSION, "ville": "Lyon"})
        assert modified.http_status == 200
        status = await ocean.status("LIV-001", customer_id=4242)
        assert status.status == "Envoyée"
        assert status.external_id.startswith("GM")
        assert not status.refused
        [mission] = sandbox.world.missions()
        assert mission["ville"] == "Lyon"
        deleted = await ocean.delete("LIV-001", customer_id=4242)
        assert "supprimée" in deleted.message
    assert sandbox.world.missions() == []
    # One login for the whole session.
    assert len(requests(sandbox.world, "authenticate")) == 1


@pytest.mark.parametrize("form_encoding", [False, True])
async def test_every_character_reaches_ocean_as_the_planning_has_it(
    sandbox: SandboxServer, form_encoding: bool
) -> None:
    """The requests are built by the client itself (not httpx's ``params=``): what a
    dispatcher types, with the characters a query string reserves, arrives unchanged."""
    awkward = {
        "commentaire": "Quai 3 & 4 + rampe = 50% ; porte #2 / « côté cour » ? l'accès",
        "rue": "  12 bis, rue de l'Église  ",
        "ville": "Saint-Étienne",
        "nomIndi": "Ærøskøbing 😀",
    }
    async with client_for(sandbox, form_encoding=form_encoding) as ocean:
        await ocean.create({**MISSION, **awkward})
        status = await ocean.status("LIV-001", customer_id=4242)
    [mission] = sandbox.world.missions()
    assert {name: mission[name] for name in awkward} == awkward
    assert status.status == "Envoyée"


async def test_calls_at_once_share_at_most_the_configured_connections() -> None:
    """Each connection is a pool of its own (importer/connections.py): 40 creates at once over
    4 connections all arrive, once each, and the connections are kept and reused."""
    world = World(faults=Faults(latency=0.02))
    with SandboxServer(world) as sandbox:
        async with client_for(sandbox, max_connections=4) as ocean:
            missions = [{**MISSION, "idMission": f"LIV-{n:03}"} for n in range(40)]
            answers = await asyncio.gather(*(ocean.create(mission) for mission in missions))
            await ocean.status("LIV-007", customer_id=4242)  # after the burst: a kept one
        assert [answer.http_status for answer in answers] == [201] * 40
        assert sorted(m["idMission"] for m in world.missions()) == [
            m["idMission"] for m in missions
        ]
        calls = [e for e in world.requests() if e.operation != "authenticate"]
        used = {e.connection for e in calls}
        assert 1 < len(used) <= 4 and None not in used
        assert calls[-1].operation == "status" and calls[-1].connection in used


@pytest.mark.parametrize("form_encoding, via", [(False, "query"), (True, "form")])
async def test_query_and_form_encodings_are_both_accepted(
    sandbox: SandboxServer, form_encoding: bool, via: str
) -> None:
    async with client_for(sandbox, form_encoding=form_encoding) as ocean:
        await ocean.create(MISSION)
        await ocean.modify({**MISSION, "commentaire": "Appeler avant, merci & à demain"})
    [mission] = sandbox.world.missions()
    assert mission["commentaire"] == "Appeler avant, merci & à demain"
    changes = [e for e in sandbox.world.requests() if e.operation in ("create", "modify")]
    assert [e.via for e in changes] == [via, via]


async def test_documented_refusals_become_the_right_errors(sandbox: SandboxServer) -> None:
    async with client_for(sandbox) as ocean:
        with pytest.raises(MissionNotFound) as unknown:
            await ocean.modify(MISSION)
        assert unknown.value.http_status == 404
        assert unknown.value.vendor_message == "Mission « LIV-001 » introuvable."
        with pytest.raises(MissionNotFound):
            await ocean.status("LIV-001")
        with pytest.raises(MissionNotFound):
            await ocean.delete("LIV-001")
        await ocean.create(MISSION)
        with pytest.raises(MissionExists) as exists:
            await ocean.create(MISSION)
        assert exists.value.exit_code == 1
        with pytest.raises(MissionRejected) as bad_date:
            await ocean.create({**MISSION, "idMission": "X", "jourHeureInter": "2026-11-24 07:30"})
        assert bad_date.value.http_status == 422
        with pytest.raises(MissionRejected) as forbidden:
            await ocean.create({**MISSION, "idMission": "Y", "customerId": "1"})
        assert forbidden.value.http_status == 403
        assert "n'a pas accès au client 1" in str(forbidden.value)
    # Refusals are never retried.
    assert all(e.http_status != 0 for e in sandbox.world.requests())
    assert len(sandbox.world.requests()) == 1 + 7  # one login, seven calls, no retry


async def test_a_200_whose_message_reports_failure_is_a_failure(sandbox: SandboxServer) -> None:
    sandbox.world.script("LIV-001", "refuse")
    async with client_for(sandbox) as ocean:
        with pytest.raises(MissionRejected) as refused:
            await ocean.create(MISSION)
    assert refused.value.http_status == 200
    assert refused.value.vendor_message.startswith("Échec de l'enregistrement")
    assert refused.value.attempts == 1
    assert sandbox.world.missions() == []


# -- faults: retried, or reported as the policy says ---------------------------------------


@pytest.mark.parametrize("kind", ["500", "503", "drop-before"])
async def test_a_transient_failure_is_retried_with_backoff(
    sandbox: SandboxServer, kind: str
) -> None:
    sandbox.world.script("LIV-001", kind, kind)
    sleeps = RecordedSleeps()
    async with client_for(sandbox, sleeps) as ocean:
        created = await ocean.create(MISSION)
    assert created.attempts == 3
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 1.5  # exponential, with jitter
    assert len(sandbox.world.missions()) == 1
    assert [s for s, _ in requests(sandbox.world, "create")][-1] == 201


async def test_429_waits_what_retry_after_says(sandbox: SandboxServer) -> None:
    sandbox.world.script("LIV-001", "429", "429", "429")
    sleeps = RecordedSleeps()
    async with client_for(sandbox, sleeps) as ocean:
        created = await ocean.create(MISSION)
    assert created.attempts == 4
    assert sleeps == [1.0, 1.0, 1.0]


async def test_429_without_retry_after_backs_off(sandbox: SandboxServer) -> None:
    sandbox.world.faults.retry_after = False
    sandbox.world.script("LIV-001", "429", "429")
    sleeps = RecordedSleeps()
    async with client_for(sandbox, sleeps) as ocean:
        await ocean.create(MISSION)
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] >= 0.5


async def test_throttling_does_not_use_up_the_attempts(sandbox: SandboxServer) -> None:
    # Six 429s then one 503: seven failed attempts, but only one counts against the cap of 5.
    sandbox.world.script("LIV-001", *["429"] * 6, "503")
    async with client_for(sandbox) as ocean:
        created = await ocean.create(MISSION)
    assert created.attempts == 8


async def test_retries_stop_at_the_attempt_cap(sandbox: SandboxServer) -> None:
    sandbox.world.script("LIV-001", *["503"] * 10)
    sleeps = RecordedSleeps()
    async with client_for(sandbox, sleeps) as ocean:
        with pytest.raises(OceanUnavailable) as gave_up:
            await ocean.create(MISSION)
    assert gave_up.value.attempts == 5
    assert len(sleeps) == 4
    assert gave_up.value.exit_code == 3
    assert "after 5 attempts: HTTP 503" in str(gave_up.value)
    assert gave_up.value.maybe_applied  # a 5xx may come after the change was applied
    assert len(requests(sandbox.world, "create")) == 5


async def test_retries_stop_at_the_total_wait_cap(sandbox: SandboxServer) -> None:
    sandbox.world.script("LIV-001", *["429"] * 10)
    sleeps = RecordedSleeps()
    ocean = OceanClient(
        sandbox.base_url, "demo", Secret(PASSWORD), retry=quick_policy(sleeps, max_wait=3.5)
    )
    async with ocean:
        with pytest.raises(OceanUnavailable) as gave_up:
            await ocean.create(MISSION)
    assert sleeps == [1.0, 1.0, 1.0]
    assert gave_up.value.attempts == 4
    assert not gave_up.value.maybe_applied  # a 429 comes before anything is done


async def test_a_drop_after_the_change_surfaces_as_mission_exists_on_the_retry(
    sandbox: SandboxServer,
) -> None:
    # The ambiguous case: the create was applied, the answer lost; the retry finds it done.
    sandbox.world.script("LIV-001", "drop-after")
    async with client_for(sandbox) as ocean:
        with pytest.raises(MissionExists) as exists:
            await ocean.create(MISSION)
    assert exists.value.attempts == 2
    assert len(sandbox.world.missions()) == 1
    assert requests(sandbox.world, "create") == [(0, "drop-after"), (400, None)]


async def test_a_slow_answer_past_the_read_timeout_is_retried(sandbox: SandboxServer) -> None:
    sandbox.world.faults.slow_seconds = 2.0
    sandbox.world.script("LIV-001", "slow")
    timeout = httpx.Timeout(5.0, read=0.3)
    async with client_for(sandbox, timeout=timeout) as ocean:
        # The slow create was applied, its answer never came in time; the retry finds it.
        with pytest.raises(MissionExists) as exists:
            await ocean.create(MISSION)
    assert exists.value.attempts == 2
    assert len(sandbox.world.missions()) == 1


async def test_an_unreachable_service_is_reported_in_one_sentence(unused_port: int) -> None:
    sleeps = RecordedSleeps()
    ocean = OceanClient(
        f"http://127.0.0.1:{unused_port}/ocean/restapi", "demo", Secret(PASSWORD),
        retry=quick_policy(sleeps),
    )  # fmt: skip
    async with ocean:
        with pytest.raises(OceanUnavailable) as unreachable:
            await ocean.create(MISSION)
    assert "could not be reached to log in" in str(unreachable.value)
    assert "cannot connect" in str(unreachable.value)
    assert len(sleeps) == 4


# -- authentication ----------------------------------------------------------------------


async def test_bad_credentials_stop_with_a_sentence(sandbox: SandboxServer) -> None:
    async with client_for(sandbox, password="not-the-password") as ocean:
        with pytest.raises(AuthenticationError) as refused:
            await ocean.create(MISSION)
    assert refused.value.exit_code == 3
    assert str(refused.value).startswith("Ocean refused the login 'demo' (HTTP 401")
    assert "not-the-password" not in str(refused.value)
    assert sandbox.world.missions() == []


async def test_an_expired_token_is_renewed_once_on_401() -> None:
    clock = FakeClock()
    world = World(clock=clock, faults=Faults(token_lifetime=60))
    with SandboxServer(world) as sandbox:
        async with client_for(sandbox) as ocean:
            await ocean.create(MISSION)
            clock.advance(61)  # the sandbox's token is gone; the client thinks it has 12 hours
            await ocean.modify(MISSION)
            assert ocean.authentications == 2
    assert requests(world, "modify") == [(401, None), (200, None)]


async def test_concurrent_calls_share_one_renewed_token() -> None:
    clock = FakeClock()
    world = World(clock=clock, faults=Faults(token_lifetime=60))
    with SandboxServer(world) as sandbox:
        async with client_for(sandbox) as ocean:
            await ocean.create(MISSION)
            clock.advance(61)
            ids = [f"M{n}" for n in range(20)]
            await asyncio.gather(*(ocean.create({**MISSION, "idMission": i}) for i in ids))
            assert ocean.authentications == 2
    assert len(world.missions()) == 21


async def test_the_token_is_renewed_before_it_expires(sandbox: SandboxServer) -> None:
    clock = FakeClock()
    async with client_for(sandbox, clock=clock) as ocean:
        await ocean.create(MISSION)
        clock.advance(TOKEN_LIFETIME_SECONDS - 20 * 60)
        await ocean.status("LIV-001")
        assert ocean.authentications == 1
        clock.advance(10 * 60)  # within the renewal margin: log in again before calling
        await ocean.status("LIV-001")
        assert ocean.authentications == 2
    assert all(status != 401 for status, _ in requests(sandbox.world, "status"))


async def test_a_fresh_token_refused_too_stops_the_run() -> None:
    world = World(faults=Faults(token_lifetime=0))  # every token is dead on arrival
    with SandboxServer(world) as sandbox:
        async with client_for(sandbox) as ocean:
            with pytest.raises(AuthenticationError) as refused:
                await ocean.create(MISSION)
    assert "refused a fresh token" in str(refused.value)
    assert requests(world, "create") == [(401, None), (401, None)]


@pytest.mark.parametrize("days, warned", [(7, True), (14, True), (15, False), (90, False)])
async def test_a_password_about_to_expire_is_warned_about(
    caplog: pytest.LogCaptureFixture, days: int, warned: bool
) -> None:
    world = World([Account("demo", PASSWORD, password_days=days)])
    with SandboxServer(world) as sandbox, caplog.at_level(logging.WARNING):
        async with client_for(sandbox) as ocean:
            await ocean.create(MISSION)
            await ocean.status("LIV-001")
    assert ocean.password_expires_in_days == days
    warnings = [r.getMessage() for r in caplog.records if "password" in r.getMessage()]
    assert len(warnings) == (1 if warned else 0)
    if warned:
        assert f"expires in {days} days" in warnings[0]


# -- the circuit breaker -----------------------------------------------------------------


async def test_the_circuit_opens_when_ocean_keeps_failing(sandbox: SandboxServer) -> None:
    async with client_for(sandbox, breaker=CircuitBreaker(threshold=8, cooldown=60)) as ocean:
        await ocean.create(MISSION)
        sandbox.world.faults.error_share = 1.0
        with pytest.raises(OceanUnavailable):
            await ocean.status("LIV-001")  # 5 failed attempts
        seen = len(sandbox.world.requests())
        with pytest.raises(CircuitOpen) as opened:
            await ocean.status("LIV-001")  # 3 more, and the circuit opens
        assert len(sandbox.world.requests()) == seen + 3
        with pytest.raises(CircuitOpen):
            await ocean.create({**MISSION, "idMission": "M2"})
        assert len(sandbox.world.requests()) == seen + 3  # no call made while open
    assert opened.value.exit_code == 3
    assert "8 times in a row" in str(opened.value)


async def test_the_circuit_closes_again_after_the_cooldown(sandbox: SandboxServer) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=2, cooldown=30, clock=clock)
    sandbox.world.script("LIV-001", "503", "503")
    async with client_for(sandbox, breaker=breaker) as ocean:
        with pytest.raises(CircuitOpen):
            await ocean.create(MISSION)
        clock.advance(31)
        assert (await ocean.create(MISSION)).http_status == 201
    assert not breaker.is_open


# -- secrets -----------------------------------------------------------------------------


async def test_no_secret_reaches_a_log_a_message_or_a_repr(
    caplog: pytest.LogCaptureFixture,
) -> None:
    password = "Tr0ub4dor&3-secret"
    clock = FakeClock()
    world = World([Account("demo", password, password_days=3)], clock=clock,
                  faults=Faults(token_lifetime=60))  # fmt: skip
    world.script("LIV-001", "503", "drop-after", "refuse")
    seen: list[str] = []
    caplog.set_level(logging.DEBUG, logger="httpx")  # whatever a command set it to before
    with SandboxServer(world) as sandbox, caplog.at_level(logging.DEBUG):
        ocean = client_for(sandbox, password=password)
        async with ocean:
            for call in (
                ocean.create(MISSION), ocean.create(MISSION), ocean.status("LIV-001"),
                ocean.modify({**MISSION, "idMission": "NOPE"}),
            ):  # fmt: skip
                try:
                    await call
                except Exception as exc:
                    seen.append(f"{exc!s} {exc!r}")
            tokens = world.tokens()
            clock.advance(61)
            await ocean.status("LIV-001")
            tokens += world.tokens()
            seen.append(repr(ocean))
        async with client_for(sandbox, password="wrong-" + password) as bad:
            with pytest.raises(AuthenticationError) as refused:
                await bad.status("LIV-001")
        seen.append(f"{refused.value!s} {refused.value!r}")
    assert len(tokens) == 2
    text = caplog.text + "\n".join(seen) + repr(OceanSettings(password=Secret(password)))
    assert "HTTP Request" in caplog.text  # each request was logged, at DEBUG
    assert password not in text
    for token in tokens:
        assert token not in text


def test_a_client_needs_a_base_url_a_login_and_a_password() -> None:
    with pytest.raises(ConfigError) as missing:
        OceanClient.from_settings(OceanSettings(login="demo"))
    assert "set OCEAN_BASE_URL, OCEAN_PASSWORD" in str(missing.value)
