"""Settings: one frozen object, built once from defaults, a TOML file, the environment and flags.

Nothing else in the library reads ``os.environ``: the CLI passes the environment in here.

Every key of a configuration file, with an example: docs/configuration.md.
"""

from __future__ import annotations

import datetime as dt
import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from importer.errors import ConfigError
from importer.i18n import DEFAULT_LANGUAGE, LANGUAGES, _, quoted
from importer.schemas.aliases import PLANNING_ONLY_FIELDS
from importer.schemas.api import MISSION_FIELDS
from importer.schemas.area import AREA_KEYS, FRANCE_AREA, Area, area_of

# Ocean's users plan in French local time; never the machine's zone (a server in UTC would
# shift every mission by an hour or two). Every summary names the zone in force.
DEFAULT_TIMEZONE = "Europe/Paris"
DEFAULT_MAX_FILE_MB = 100.0
DEFAULT_MAX_ROWS = 200_000
# A workbook is read in a child process allowed this much memory: a hostile one (a far cell,
# a row repeated a million times) is refused instead of taking the process down.
DEFAULT_MAX_MEMORY_MB = 600.0


# Which missions of its feed a file speaks for (the absent ones are deleted): the days it
# covers, every day from its first to its last, or the whole feed.
Scope = Literal["days", "range", "feed"]
SCOPES: tuple[Scope, ...] = ("days", "range", "feed")
DEFAULT_SCOPE: Scope = "days"
WEB_ROLES = ("dispatcher", "admin")  # an admin may also confirm what the mass-delete guard stopped

# Ocean's status words (statutMission) that say the driver has the mission in hand: it is then
# neither deleted nor modified without --allow-started. Compared without case and accents.
# Ocean documents no list: these are the words its screens and the sandbox use.
DEFAULT_STARTED_STATUSES = (
    "Acceptée", "En cours", "Démarrée", "Commencée", "En route", "Sur place", "Terminée",
    "Réalisée", "Livrée", "Clôturée", "Accepted", "Started", "In progress", "Done",
    "Completed", "Finished",
)  # fmt: skip
# The words known not to mean "in hand" (any other is listed as unknown, and not protected).
NOT_STARTED_STATUSES = (
    "Préparée", "Envoyée", "Reçue", "Refusée", "Non envoyée", "Annulée", "Prepared", "Sent",
    "Received", "Refused", "Cancelled",
)  # fmt: skip

DEFAULT_MASS_DELETE_SHARE = 0.5
DEFAULT_MASS_DELETE_COUNT = 1000
# Below this many deletions the share rule does not apply: removing 2 of a day's 3 missions
# is an ordinary change, not a wiped planning.
MASS_DELETE_FLOOR = 5

DEFAULT_CONCURRENCY = 8  # calls to Ocean in flight at once

# Rows hidden in the sheet (by hand or by a filter) are imported by default, and said: a
# dispatcher who filters the sheet to look at one driver's missions, then saves it, must not
# delete every other mission of the day. "skip" leaves them out, for a site that hides rows to
# cancel them.
HiddenRows = Literal["import", "skip"]
HIDDEN_ROWS: tuple[HiddenRows, ...] = ("import", "skip")


@dataclass(frozen=True, kw_only=True)
class Guard:
    share: float = DEFAULT_MASS_DELETE_SHARE
    count: int = DEFAULT_MASS_DELETE_COUNT
    allow: bool = False  # --allow-mass-delete
    never_delete: bool = False  # --no-delete


@dataclass(frozen=True, kw_only=True)
class ImportOptions:
    """How one planning is imported, beside the site's settings (the command's flags)."""

    feed: str
    feed_from_name: bool = False  # --feed not given: the feed comes from the file's name
    feed_origin: str | None = None  # once resolved (feeds.with_feed): "name" or "legacy"
    scope: Scope | None = None  # None: the configuration's for the feed (feeds.with_feed)
    delete_past: bool = False
    guard: Guard = field(default_factory=Guard)
    concurrency: int = DEFAULT_CONCURRENCY
    dry_run: bool = False
    command: str = "run"  # recorded in the state's runs: run, watch, web, undo
    actor: str | None = None  # who ran it (the web page's user; default: user@host)
    protect_started: bool = True  # ask Ocean before touching a mission (--no-refresh: False)
    allow_started: bool = False  # touch a mission the driver has in hand (--allow-started)
    drift: bool = False  # ask Ocean about every mission of the scope first (--refresh)


class Secret:
    """A string that never shows itself in a repr, a log line or an f-string."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__


@dataclass(frozen=True, kw_only=True)
class OceanSettings:
    base_url: str | None = None
    login: str | None = None
    password: Secret | None = field(default=None, repr=False)
    form_encoding: bool = False
    timeout: float = 30.0  # seconds to wait for an answer
    ca_bundle: str | None = None  # trust this CA bundle (a company proxy) besides the system's


DEFAULT_SETTLE_SECONDS = 10.0  # watch: a file is taken once unchanged this long
DEFAULT_INTERVAL_SECONDS = 60.0  # watch: between two looks at the inbox


@dataclass(frozen=True, kw_only=True)
class Settings:
    timezone: str = DEFAULT_TIMEZONE
    timezone_given: bool = False  # False: the default, and the summaries say so
    customer_id: int | None = None
    multi_client: bool = False
    send_by_default: bool = False
    sheet: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    max_file_mb: float = DEFAULT_MAX_FILE_MB
    max_rows: int = DEFAULT_MAX_ROWS
    max_memory_mb: float = DEFAULT_MAX_MEMORY_MB
    ocean: OceanSettings = field(default_factory=OceanSettings)
    lang: str = DEFAULT_LANGUAGE  # what a person reads: fr or en
    web_users: Mapping[str, str] = field(default_factory=dict, repr=False)  # name: hash
    web_langs: Mapping[str, str] = field(default_factory=dict)  # name: lang, when set
    web_roles: Mapping[str, str] = field(default_factory=dict)  # name: admin (else dispatcher)
    web_max_upload_mb: float = 20.0
    web_secret_key_file: str | None = None  # None: web-secret.key beside the state store
    web_idle_minutes: float = 60.0  # a session unused this long is closed
    web_retention_days: float = 30.0  # uploads and their workbooks kept this long
    scope: Scope = DEFAULT_SCOPE
    feed_scopes: Mapping[str, Scope] = field(default_factory=dict)  # [feeds.NAME] scope
    started_statuses: tuple[str, ...] = DEFAULT_STARTED_STATUSES  # [protect] statuses
    started_codes: tuple[str, ...] = ()  # [protect] codes (Ocean documents none)
    state: str | None = field(default=None, repr=False)  # [state] url: a path or postgresql://
    alerts: tuple[str, ...] = field(default=(), repr=False)  # [alerts] urls (Apprise's)
    alert_password_days: int = 14  # [alerts] password_days: warn this long before expiry
    feed_deadlines: Mapping[str, str] = field(default_factory=dict)  # [feeds.NAME] expected_by
    area: Area = FRANCE_AREA  # [area]: where a mission's point may be without a warning
    hidden_rows: HiddenRows = "import"  # rows hidden in the sheet: imported (and said), or skipped

    def scope_for(self, feed: str) -> Scope:
        return self.feed_scopes.get(feed, self.scope)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


_TOP_KEYS = {
    "timezone",
    "customer_id",
    "multi_client",
    "send_by_default",
    "sheet",
    "limits",
    "ocean",
    "columns",
    "ui",
    "web",
    "scope",
    "feeds",
    "protect",
    "state",
    "alerts",
    "area",
    "hidden_rows",
}
_LIMIT_KEYS = {"max_file_mb", "max_rows", "max_memory_mb"}
_OCEAN_KEYS = {
    "base_url",
    "login",
    "password",
    "password_file",
    "form_encoding",
    "timeout",
    "ca_bundle",
}


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    **flags: Any,
) -> Settings:
    """Build the settings: defaults < TOML file < environment < flags (None flags are ignored)."""
    values: dict[str, Any] = {}
    ocean: dict[str, Any] = {}
    if config_file is not None:
        values, ocean = _read_toml(config_file)
    env = environ or {}
    for env_name, key in (
        ("OCEAN_BASE_URL", "base_url"),
        ("OCEAN_LOGIN", "login"),
        ("OCEAN_CA_BUNDLE", "ca_bundle"),
    ):
        if env.get(env_name):
            ocean[key] = env[env_name]
    if env.get("OCEAN_PASSWORD_FILE"):
        ocean["password"] = _read_password_file(Path(env["OCEAN_PASSWORD_FILE"]))
    if env.get("OCEAN_PASSWORD"):
        ocean["password"] = Secret(env["OCEAN_PASSWORD"])
    if env.get("OCEAN_IMPORT_LANG"):
        values["lang"] = env["OCEAN_IMPORT_LANG"]
    if env.get("OCEAN_IMPORT_ALERTS"):
        values["alerts"] = tuple(env["OCEAN_IMPORT_ALERTS"].split())
    if env.get("OCEAN_IMPORT_STATE"):
        values["state"] = env["OCEAN_IMPORT_STATE"]
    if env.get("OCEAN_CUSTOMER_ID"):
        values["customer_id"] = _as_int(env["OCEAN_CUSTOMER_ID"], "OCEAN_CUSTOMER_ID")
    ocean_flags = {k: flags.pop(k) for k in ("ca_bundle",) if k in flags}
    ocean.update({k: v for k, v in ocean_flags.items() if v is not None})
    values.update({k: v for k, v in flags.items() if v is not None})
    values["timezone_given"] = "timezone" in values
    settings = Settings(**values, ocean=OceanSettings(**ocean))
    _check(settings)
    return settings


def _clock_time(value: object, key: str, path: Path) -> str:
    """``"06:00"``: a time of day, in the planning's zone."""
    try:
        return dt.time.fromisoformat(str(value)).strftime("%H:%M")
    except ValueError:
        raise ConfigError(
            _('{key} in {path} must be a time of day such as "06:00", not {value}').format(
                key=key, path=path, value=value
            )
        ) from None


def _read_toml(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(_("configuration file {path} does not exist").format(path=path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            _("configuration file {path} cannot be read: {why}").format(path=path, why=exc)
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            _("configuration file {path} is not valid TOML: {why}").format(path=path, why=exc)
        ) from None
    _refuse_unknown(data, _TOP_KEYS, path, "")
    tables = {"limits", "ocean", "columns", "ui", "web", "feeds", "protect", "state", "alerts",
              "area"}  # fmt: skip
    values = {k: v for k, v in data.items() if k not in tables}
    ui = _table(data, "ui", path)
    _refuse_unknown(ui, {"lang"}, path, "ui.")
    if "lang" in ui:
        values["lang"] = str(ui["lang"])
    web = _table(data, "web", path)
    web_keys = {"users", "max_upload_mb", "secret_key_file", "idle_minutes", "retention_days"}
    _refuse_unknown(web, web_keys, path, "web.")
    if "users" in web:
        values["web_users"], values["web_langs"], values["web_roles"] = _web_users(
            web["users"], path
        )
    if "max_upload_mb" in web:
        values["web_max_upload_mb"] = float(web["max_upload_mb"])
    if "secret_key_file" in web:
        values["web_secret_key_file"] = str(web["secret_key_file"])
    if "idle_minutes" in web:
        values["web_idle_minutes"] = float(web["idle_minutes"])
    if "retention_days" in web:
        values["web_retention_days"] = float(web["retention_days"])
    feeds = _table(data, "feeds", path)
    scopes = {}
    for name, feed in feeds.items():
        if not isinstance(feed, dict):
            raise ConfigError(
                _("[feeds.{name}] in {path} must be a table").format(name=name, path=path)
            )
        _refuse_unknown(feed, {"scope", "expected_by"}, path, f"feeds.{name}.")
        if "scope" in feed:
            scopes[str(name)] = feed["scope"]
        if "expected_by" in feed:
            values.setdefault("feed_deadlines", {})[str(name)] = _clock_time(
                feed["expected_by"], f"feeds.{name}.expected_by", path
            )
    values["feed_scopes"] = scopes
    alerts = _table(data, "alerts", path)
    _refuse_unknown(alerts, {"urls", "password_days"}, path, "alerts.")
    if "urls" in alerts:
        if not isinstance(alerts["urls"], list):
            raise ConfigError(_("alerts.urls in {path} must be a list").format(path=path))
        values["alerts"] = tuple(str(url) for url in alerts["urls"])
    if "password_days" in alerts:
        values["alert_password_days"] = _as_int(alerts["password_days"], "alerts.password_days")
    protect = _table(data, "protect", path)
    _refuse_unknown(protect, {"statuses", "codes"}, path, "protect.")
    for key, target in (("statuses", "started_statuses"), ("codes", "started_codes")):
        if key in protect:
            if not isinstance(protect[key], list):
                raise ConfigError(
                    _("protect.{key} in {path} must be a list").format(key=key, path=path)
                )
            values[target] = tuple(str(item) for item in protect[key])
    area = _table(data, "area", path)
    if area:
        values["area"] = _area(area, path)
    state = _table(data, "state", path)
    _refuse_unknown(state, {"url"}, path, "state.")
    if "url" in state:
        values["state"] = str(state["url"])
    limits = _table(data, "limits", path)
    _refuse_unknown(limits, _LIMIT_KEYS, path, "limits.")
    values.update(limits)
    if "customer_id" in values:
        values["customer_id"] = _as_int(
            values["customer_id"], _("customer_id in {path}").format(path=path)
        )
    columns = _table(data, "columns", path)
    if columns:
        values["columns"] = {str(k): str(v) for k, v in columns.items()}
    ocean_table = _table(data, "ocean", path)
    _refuse_unknown(ocean_table, _OCEAN_KEYS, path, "ocean.")
    ocean = {k: v for k, v in ocean_table.items() if k not in {"password", "password_file"}}
    if "password_file" in ocean_table:
        ocean["password"] = _read_password_file(Path(ocean_table["password_file"]))
    if "password" in ocean_table:
        ocean["password"] = Secret(str(ocean_table["password"]))
    return values, ocean


def _area(table: Mapping[str, Any], path: Path) -> Area:
    """``[area]``: south, west, north, east in decimal degrees (each defaults to France's)."""
    _refuse_unknown(table, set(AREA_KEYS), path, "area.")
    try:
        return area_of(table)
    except ValueError as exc:
        key = str(exc)
        raise ConfigError(
            _("area.{key} in {path} must be a number of degrees, not {value}").format(
                key=key, path=path, value=repr(table[key])
            )
            if key
            else _(
                "[area] in {path}: south must be below north (within -90..90) and west below "
                "east (within -180..180)"
            ).format(path=path)
        ) from None


def _web_users(users: object, path: Path) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """``name = "hash"`` (a dispatcher), or ``[web.users.NAME]`` with ``password`` (or
    ``hash``), ``role`` (``dispatcher``, the default, or ``admin``) and ``lang``."""
    if not isinstance(users, dict):
        raise ConfigError(
            _("[web] users in {path} must map names to password hashes").format(path=path)
        )
    hashes, langs, roles = {}, {}, {}
    for name, user in users.items():
        if isinstance(user, str):
            hashes[name] = user
            continue
        secret = user.get("password", user.get("hash")) if isinstance(user, dict) else None
        if not isinstance(secret, str):
            raise ConfigError(
                _("[web.users.{name}] in {path} needs a password hash (and may set role and "
                  "lang)").format(name=name, path=path)
            )  # fmt: skip
        _refuse_unknown(user, {"password", "hash", "role", "lang"}, path, f"web.users.{name}.")
        hashes[name] = secret
        if "lang" in user:
            langs[name] = str(user["lang"])
        role = str(user.get("role", "dispatcher"))
        if role not in WEB_ROLES:
            raise ConfigError(
                _("[web.users.{name}] role is {role}: use one of {roles}").format(
                    name=name, role=quoted(role), roles=", ".join(WEB_ROLES)
                )
            )
        roles[name] = role
    return hashes, langs, roles


def _table(data: Mapping[str, Any], name: str, path: Path) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(_("[{name}] in {path} must be a table").format(name=name, path=path))
    return table


def _refuse_unknown(data: Mapping[str, Any], known: set[str], path: Path, prefix: str) -> None:
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = _(" (did you mean {name}?)").format(name=prefix + close[0]) if close else ""
            raise ConfigError(
                _("unknown setting {name} in {path}{hint}").format(
                    name=prefix + key, path=path, hint=hint
                )
            )


def _read_password_file(path: Path) -> Secret:
    try:
        return Secret(path.read_text(encoding="utf-8").strip())
    except OSError:
        raise ConfigError(_("password file {path} cannot be read").format(path=path)) from None


def _as_int(value: Any, where: str) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(
            _("{where} must be a whole number, not {value}").format(where=where, value=repr(value))
        ) from None


def _check(settings: Settings) -> None:
    for lang in (settings.lang, *settings.web_langs.values()):
        if lang not in LANGUAGES:
            raise ConfigError(
                _("unknown language {lang}: ocean-import speaks {languages}").format(
                    lang=quoted(lang), languages=" / ".join(LANGUAGES)
                )
            )
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            _("unknown time zone {zone}: use an IANA name such as Europe/Paris").format(
                zone=quoted(settings.timezone)
            )
        ) from None
    if settings.hidden_rows not in HIDDEN_ROWS:
        raise ConfigError(
            _("hidden_rows is {value}: use one of {choices}").format(
                value=quoted(str(settings.hidden_rows)), choices=", ".join(HIDDEN_ROWS)
            )
        )
    scopes = {"scope": settings.scope}
    scopes |= {f"feeds.{name}.scope": value for name, value in settings.feed_scopes.items()}
    for where, scope in scopes.items():
        if scope not in SCOPES:
            raise ConfigError(
                _("{where} is {value}: use one of {scopes}").format(
                    where=where, value=quoted(str(scope)), scopes=", ".join(SCOPES)
                )
            )
    if settings.max_rows < 1 or settings.max_file_mb <= 0 or settings.max_memory_mb <= 0:
        raise ConfigError(
            _("limits.max_rows, limits.max_file_mb and limits.max_memory_mb must be positive")
        )
    for header, target in settings.columns.items():
        if target not in MISSION_FIELDS and target not in PLANNING_ONLY_FIELDS:
            close = difflib.get_close_matches(target, [*MISSION_FIELDS, *PLANNING_ONLY_FIELDS], n=1)
            hint = _(" (did you mean {name}?)").format(name=close[0]) if close else ""
            raise ConfigError(
                _("[columns] maps {header} to {target}, which is not a mission field{hint}").format(
                    header=quoted(header), target=quoted(target), hint=hint
                )
            )
