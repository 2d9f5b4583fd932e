"""The sandbox's world: accounts, tokens, missions and their statuses, faults, a request log.

Pure Python, no HTTP: the Starlette app (``app.py``) turns requests into calls on a
``World`` and its answers into responses. Tests hold the same ``World`` to script faults
and to look at the missions and the requests the server received.

Where the vendor documents nothing, the sandbox makes a choice and keeps to it:
- a create for an ``idMission`` that exists is refused (400, "existe déjà");
- ``modifierMission`` replaces the whole mission: a field left out is cleared;
- deletion is physical: the mission is gone, a status query answers 404, and the same
  ``idMission`` may be created again;
- statuses move on with time: Préparée (not sent) or Envoyée -> Reçue -> Acceptée or
  Refusée (a stable share of missions, with a ``commentRefuseReason``) -> Terminée once the
  intervention time has passed; a modify sends the mission again (Envoyée);
- a test (or ``sandbox --status``) may set a mission's status as a driver's screen would (En
  cours, Acceptée...): it holds until a modify sends the mission again; a mission may also be
  deleted behind the importer's back (``remove``), as Ocean's own screens can.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from importer.i18n import _, lazy
from importer.schemas.api import API_DATE_FORMAT

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
TOKEN_LIFETIME_SECONDS = 12 * 3600
DEFAULT_LOGIN = "demo"
DEFAULT_PASSWORD = "demo"
DEFAULT_CUSTOMERS = (4242,)
DEFAULT_PASSWORD_DAYS = 90
DEFAULT_STATUS_STEP_SECONDS = 30.0
DEFAULT_REFUSE_SHARE = 0.1

REFUSE_REASONS = (
    "Véhicule indisponible",
    "Adresse introuvable",
    "Hors tournée du jour",
    "Client absent, à replanifier",
)

# How the answers to a change name the mission (see World.echo_id): « M-1 » as the sandbox
# does by default, M-1 bare as many services do, or not at all.
ECHO_STYLES = ("quoted", "bare", "none")

# Per-mission scripted failures (see World.script).
FAILURE_KINDS = {
    "500": lazy("answer 500 Internal Server Error, change not applied"),
    "503": lazy("answer 503 Service Unavailable, change not applied"),
    "429": lazy("answer 429 Too Many Requests (with Retry-After), change not applied"),
    "drop-before": lazy("drop the connection before answering, change not applied"),
    "drop-after": lazy("apply the change, then drop the connection before answering"),
    "refuse": lazy("answer 200 with a message that reports a failure, change not applied"),
    "expired": lazy(
        "answer 401 as for an expired token (the client logs in again), change not applied"
    ),
    "slow": lazy("answer after a long pause (past a client's read timeout), change applied"),
}


@dataclass(frozen=True)
class Account:
    """A login the sandbox accepts; more than one customer makes it multi-client."""

    login: str
    password: str = field(repr=False)
    customers: tuple[int, ...] = DEFAULT_CUSTOMERS
    password_days: int = DEFAULT_PASSWORD_DAYS

    @property
    def multi_client(self) -> bool:
        return len(self.customers) > 1


@dataclass
class Faults:
    """Faults injected into every request of the mission API (all off by default)."""

    latency: float = 0.0  # seconds added to every answer
    jitter: float = 0.0  # plus a uniform random share of this many seconds
    error_share: float = 0.0  # share of requests answered 500 or 503
    rate_limit: float = 0.0  # requests per second beyond which 429 answers (0: none)
    retry_after: bool = True  # send Retry-After with a 429
    drop_before_share: float = 0.0  # share of connections dropped, change not applied
    drop_after_share: float = 0.0  # share of connections dropped after the change is applied
    slow_seconds: float = 60.0  # how long a "slow" scripted failure waits
    token_lifetime: float = TOKEN_LIFETIME_SECONDS
    token_uses: int = 0  # mission calls a token answers before it expires (0: no limit)
    status_step: float = DEFAULT_STATUS_STEP_SECONDS  # seconds between two status changes
    refuse_share: float = DEFAULT_REFUSE_SHARE  # share of sent missions the driver refuses

    def update(self, **changes: Any) -> None:
        unknown = set(changes) - set(asdict(self))
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        for name, value in changes.items():
            kind = type(getattr(self, name))
            if kind is bool and not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
            setattr(self, name, kind(value))


@dataclass
class Mission:
    customer_id: int
    fields: dict[str, str]  # as received (blank fields left out)
    external_id: str
    created_at: float
    sent_at: float  # when it was last created or modified
    version: int = 1


@dataclass(frozen=True)
class Status:
    status: str
    code: str
    complement: str
    refuse_reason: str
    since: float


@dataclass
class Logged:
    """One request as the server saw it, for tests and the listing endpoint."""

    at: float
    operation: str  # authenticate, create, modify, status, delete
    id_mission: str | None
    customer_id: int | None
    http_status: int  # 0: no answer (the connection was dropped)
    applied: bool  # whether the change reached the missions
    fault: str | None = None  # the injected fault, if any
    via: str = "query"  # how the parameters came: query, form or json (json is not read)
    connection: str | None = None  # the client's address and port: one per connection


class World:
    """Everything the sandbox knows. Thread-safe: the server's event loop and the tests share it."""

    def __init__(
        self,
        accounts: Iterable[Account] = (Account(DEFAULT_LOGIN, DEFAULT_PASSWORD),),
        *,
        faults: Faults | None = None,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
        echo_id: str = "quoted",
    ) -> None:
        if echo_id not in ECHO_STYLES:
            raise ValueError(f"unknown echo style {echo_id!r}: one of {', '.join(ECHO_STYLES)}")
        self.accounts = {account.login: account for account in accounts}
        self.echo_id = echo_id
        self.faults = faults or Faults()
        self.clock = clock
        self.random = random.Random(seed)
        # token -> (login, expires at, mission calls it may still answer: None for no limit)
        self._tokens: dict[str, tuple[str, float, int | None]] = {}
        self._missions: dict[tuple[int, str], Mission] = {}
        self._scripts: dict[str, deque[str]] = {}
        self._forced: dict[str, Status] = {}  # idMission -> status set by hand
        self._log: list[Logged] = []
        self._window = (0, 0)  # (second, requests in it) for the rate limit
        self._next_external_id = 100_000
        self._lock = threading.RLock()

    # -- authentication ------------------------------------------------------------------

    def authenticate(self, login: str, password: str) -> tuple[str, Account] | None:
        account = self.accounts.get(login)
        if account is None or not secrets.compare_digest(account.password, password):
            return None
        token = secrets.token_urlsafe(32)
        with self._lock:
            uses = self.faults.token_uses or None
            self._tokens[token] = (login, self.clock() + self.faults.token_lifetime, uses)
        return token, account

    def account_for(self, token: str | None) -> Account | None:
        """The account a token belongs to, or None when it is unknown or expired (one of its
        uses spent, when tokens are limited in uses)."""
        if not token:
            return None
        with self._lock:
            entry = self._tokens.get(token)
            if entry is None:
                return None
            login, expires_at, uses = entry
            if self.clock() >= expires_at or uses == 0:
                del self._tokens[token]
                return None
            if uses is not None:
                self._tokens[token] = (login, expires_at, uses - 1)
        return self.accounts[login]

    # -- faults --------------------------------------------------------------------------

    def script(self, id_mission: str, *kinds: str) -> None:
        """Make the next requests about ``id_mission`` fail, one kind per request, in order."""
        for kind in kinds:
            if kind not in FAILURE_KINDS:
                known = ", ".join(FAILURE_KINDS)
                raise ValueError(
                    _("unknown failure kind {kind}: one of {known}").format(kind=kind, known=known)
                )
        with self._lock:
            self._scripts.setdefault(str(id_mission), deque()).extend(kinds)

    def next_scripted(self, id_mission: str) -> str | None:
        with self._lock:
            queue = self._scripts.get(id_mission)
            return queue.popleft() if queue else None

    def over_rate_limit(self) -> bool:
        """Count one request in the current second; True when it is over the limit."""
        limit = self.faults.rate_limit
        if limit <= 0:
            return False
        with self._lock:
            second = int(self.clock())
            current, count = self._window
            count = count + 1 if second == current else 1
            self._window = (second, count)
            return count > limit

    def chance(self, share: float) -> bool:
        return share > 0 and self.random.random() < share

    def delay(self) -> float:
        jitter = self.random.uniform(0, self.faults.jitter) if self.faults.jitter else 0.0
        return self.faults.latency + jitter

    def named(self, id_mission: str | None) -> str:
        """The mission as an answer names it, with the space that follows (see ECHO_STYLES)."""
        if self.echo_id == "none" or not id_mission:
            return ""
        return f"« {id_mission} » " if self.echo_id == "quoted" else f"{id_mission} "

    # -- missions ------------------------------------------------------------------------

    def get(self, customer_id: int, id_mission: str) -> Mission | None:
        with self._lock:
            return self._missions.get((customer_id, id_mission))

    def create(self, customer_id: int, fields: dict[str, str]) -> bool:
        """Store a new mission; False when it already exists."""
        key = (customer_id, fields["idMission"])
        with self._lock:
            if key in self._missions:
                return False
            now = self.clock()
            self._next_external_id += 1
            self._missions[key] = Mission(
                customer_id, dict(fields), f"GM{self._next_external_id}", now, now
            )
            return True

    def modify(self, customer_id: int, fields: dict[str, str]) -> bool:
        """Replace a mission's fields; False when it does not exist."""
        key = (customer_id, fields["idMission"])
        with self._lock:
            mission = self._missions.get(key)
            if mission is None:
                return False
            self._missions[key] = replace(
                mission, fields=dict(fields), sent_at=self.clock(), version=mission.version + 1
            )
            self._forced.pop(fields["idMission"], None)  # sent again: the driver starts over
            return True

    def delete(self, customer_id: int, id_mission: str) -> bool:
        with self._lock:
            return self._missions.pop((customer_id, id_mission), None) is not None

    def set_status(self, id_mission: str, status: str, code: str = "", reason: str = "") -> None:
        """What a driver's screen would do: the mission's status from now on (the mission may
        not exist yet), until a modify sends it again."""
        with self._lock:
            self._forced[str(id_mission)] = Status(
                status, code, f"{status} (statut posé à la main)", reason, self.clock()
            )

    def remove(self, id_mission: str) -> bool:
        """Delete a mission behind the importer's back (Ocean's own screens): every customer's
        mission of that id; False when there was none."""
        with self._lock:
            keys = [key for key in self._missions if key[1] == str(id_mission)]
            for key in keys:
                del self._missions[key]
            return bool(keys)

    def status(self, mission: Mission) -> Status:
        """Where the mission stands now: statuses move on every ``status_step`` seconds."""
        with self._lock:
            forced = self._forced.get(mission.fields["idMission"])
        if forced is not None:
            return forced
        fields = mission.fields
        if fields.get("aEnvoyer", "false").lower() != "true":
            return Status("Préparée", "0", "Mission préparée, non envoyée", "", mission.sent_at)
        step = max(self.faults.status_step, 1e-6)
        steps = int((self.clock() - mission.sent_at) // step)
        recipient = (
            fields.get("nomVeh")
            or fields.get("nomPrenom")
            or " ".join(filter(None, (fields.get("prenomIndi"), fields.get("nomIndi"))))
        )
        if steps < 1:
            return Status("Envoyée", "1", f"Envoyée à {recipient}", "", mission.sent_at)
        if steps < 2:
            return Status("Reçue", "2", f"Reçue par {recipient}", "", mission.sent_at + step)
        decided = mission.sent_at + 2 * step
        if self._refused(mission):
            reason = REFUSE_REASONS[_stable_hash(mission, "reason") % len(REFUSE_REASONS)]
            return Status("Refusée", "4", f"Refusée par {recipient}", reason, decided)
        intervention = _parse_api_date(fields["jourHeureInter"])
        if steps >= 3 and self.clock() >= intervention:
            return Status("Terminée", "5", "Intervention terminée", "", max(intervention, decided))
        return Status("Acceptée", "3", f"Acceptée par {recipient}", "", decided)

    def _refused(self, mission: Mission) -> bool:
        return (_stable_hash(mission, "refuse") % 10_000) / 10_000 < self.faults.refuse_share

    # -- the log and the listing ---------------------------------------------------------

    def tokens(self) -> list[str]:
        """The tokens handed out and still valid (tests check that none leaks)."""
        with self._lock:
            return list(self._tokens)

    def record(self, entry: Logged) -> None:
        with self._lock:
            self._log.append(entry)

    def requests(self) -> list[Logged]:
        with self._lock:
            return list(self._log)

    def missions(self) -> list[dict[str, Any]]:
        """Every mission with its current status, as the listing endpoint shows them."""
        with self._lock:
            missions = list(self._missions.values())
        listing = []
        for mission in missions:
            status = self.status(mission)
            listing.append(
                {
                    **mission.fields,
                    "customerId": mission.customer_id,
                    "externalMissionId": mission.external_id,
                    "version": mission.version,
                    "status": status.status,
                    "statusCode": status.code,
                    "commentRefuseReason": status.refuse_reason,
                }
            )
        return listing

    def reset(self) -> None:
        with self._lock:
            self._missions.clear()
            self._log.clear()
            self._scripts.clear()
            self._forced.clear()
            self._tokens.clear()


def format_api_date(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime(API_DATE_FORMAT)


def _parse_api_date(text: str) -> float:
    return datetime.strptime(text, API_DATE_FORMAT).replace(tzinfo=UTC).timestamp()


def _stable_hash(mission: Mission, salt: str) -> int:
    """The same mission gets the same fate in every run (a refusal is not a coin toss per query)."""
    key = f"{salt}:{mission.customer_id}:{mission.fields['idMission']}:{mission.version}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
