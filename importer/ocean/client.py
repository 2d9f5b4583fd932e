"""The Ocean GeoMission client: authenticate, then create, modify, query and delete missions.

One ``OceanClient`` per run, used as an async context manager; it holds the run's
``httpx.AsyncClient`` (its keep-alive connections shared by concurrent calls)::

    async with OceanClient.from_settings(settings.ocean) as ocean:
        answer = await ocean.create({"idMission": "M1", "jourHeureInter": "24/11/2026 07:30", ...})
        status = await ocean.status("M1", customer_id=4242)

What it does for the caller:
- authenticates on first use (``auth/authenticate2``, JSON body), re-authenticates before the
  token's 12 hours are up and once when a call is answered 401 (then gives up: exit 3);
- sends mission fields as query parameters (``form_encoding=True`` for a form body);
- retries what may pass (connection errors, timeouts, 429, 5xx) by the policy of
  ``resilience.py``, and stops calling a service that keeps failing (circuit breaker);
- paces its calls when built from the settings (``pacing.py``): as many at once and as fast
  as Ocean answers without slowing down or throttling, the concurrency as the ceiling;
- reads every answer: a 200 whose message reports a failure is a failure; errors are raised
  as the project's ``OceanError`` tree, with Ocean's own message kept verbatim;
- warns when the password expires within 14 days.

The HTTP side is httpx's client as any httpx user knows it: the proxy the environment names
(HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY), TLS checked against certifi's authorities
(and a company CA bundle), a transport injectable for tests.

The password and the token are ``Secret`` values: they reach the wire and nothing else
(no log line, exception message or repr shows them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import httpx
from tenacity import RetryCallState

from importer.config import OceanSettings, Secret
from importer.errors import (
    AuthenticationError,
    ConfigError,
    MissionExists,
    MissionNotFound,
    MissionRejected,
    OceanUnavailable,
)
from importer.i18n import _, ngettext, quoted
from importer.ocean import answers
from importer.ocean.answers import Answer, MissionStatus
from importer.ocean.http import describe, host_of, http_client, tls_context
from importer.ocean.pacing import Pacer, Turn
from importer.ocean.resilience import CircuitBreaker, RetryPolicy, TransientFailure

log = logging.getLogger(__name__)

TOKEN_LIFETIME_SECONDS = 12 * 3600.0
# Authenticate again this long before the token expires, so no call carries a dying token.
TOKEN_RENEWAL_MARGIN_SECONDS = 15 * 60.0
PASSWORD_WARNING_DAYS = 14
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_TIMEOUT = httpx.Timeout(connect=DEFAULT_CONNECT_TIMEOUT, read=30.0, write=30.0, pool=60.0)
DEFAULT_MAX_CONNECTIONS = 16

_PATHS = {
    "authenticate": "auth/authenticate2",
    "create": "geomission/ajoutMission",
    "modify": "geomission/modifierMission",
    "status": "geomission/statutMission",
    "delete": "geomission/supprimerMission",
}

# Transport errors raised before the request could reach Ocean: nothing can have been applied.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class OceanClient:
    """A client of one Ocean account; see the module docstring."""

    def __init__(
        self,
        base_url: str,
        login: str,
        password: Secret,
        *,
        form_encoding: bool = False,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        pacer: Pacer | None = None,
        token_lifetime: float = TOKEN_LIFETIME_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.login = login
        self._password = password
        self.form_encoding = form_encoding
        self.retry = retry or RetryPolicy(before_sleep=_log_retry)
        self.breaker = breaker or CircuitBreaker()
        self.pacer = pacer
        self.token_lifetime = token_lifetime
        self.clock = clock
        self.password_expires_in_days: int | None = None
        self.authentications = 0
        self._token: Secret | None = None
        self._token_obtained_at = 0.0
        self._token_lock = asyncio.Lock()
        self._http = http_client(
            self.base_url, timeout, max_connections, verify=verify, transport=transport
        )

    @classmethod
    def from_settings(cls, settings: OceanSettings, **options: Any) -> OceanClient:
        """A client from the ``[ocean]`` settings; a sentence says what is missing."""
        missing = [
            variable
            for value, variable in (
                (settings.base_url, "OCEAN_BASE_URL"),
                (settings.login, "OCEAN_LOGIN"),
                (settings.password, "OCEAN_PASSWORD"),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                _(
                    "the Ocean connection is not configured: set {variables} (or [ocean] "
                    "base_url, login, password_file in the configuration file)"
                ).format(variables=", ".join(missing))
            )
        assert settings.base_url and settings.login and settings.password
        verify = tls_context(settings.ca_bundle)
        timeout = httpx.Timeout(
            settings.timeout, connect=min(DEFAULT_CONNECT_TIMEOUT, settings.timeout), pool=60.0
        )
        # A run finds Ocean's own limit, its concurrency the ceiling (see pacing.py).
        options.setdefault("pacer", Pacer(options.get("max_connections", DEFAULT_MAX_CONNECTIONS)))
        return cls(
            settings.base_url,
            settings.login,
            settings.password,
            form_encoding=settings.form_encoding,
            timeout=timeout,
            verify=verify,
            **options,
        )

    def __repr__(self) -> str:
        return f"OceanClient(base_url={self.base_url!r}, login={self.login!r})"

    async def __aenter__(self) -> OceanClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def authenticate(self) -> None:
        """Log in now: a run does this first, so that a refused login stops it before any change."""
        await self._current_token()

    # -- the four operations -------------------------------------------------------------

    async def create(self, fields: Mapping[str, str]) -> Answer:
        """``ajoutMission``; raises ``MissionExists`` when Ocean already has the mission."""
        return await self._change("create", fields)

    async def modify(self, fields: Mapping[str, str]) -> Answer:
        """``modifierMission``; raises ``MissionNotFound`` when Ocean does not have it."""
        return await self._change("modify", fields)

    async def delete(self, id_mission: str, customer_id: int | None = None) -> Answer:
        """``supprimerMission``; raises ``MissionNotFound`` when Ocean does not have it."""
        return await self._change("delete", _key(id_mission, customer_id))

    async def status(self, id_mission: str, customer_id: int | None = None) -> MissionStatus:
        """``statutMission``; raises ``MissionNotFound`` when Ocean does not have it."""
        params = _key(id_mission, customer_id)
        response, attempts = await self._call("status", params)
        if response.status_code != 200:
            raise _rejection("status", id_mission, response, attempts)
        body = _json(response)
        return MissionStatus(
            id_mission=id_mission,
            status=str(body.get("status") or ""),
            status_code=str(body.get("statusCode") or ""),
            complement=str(body.get("complement") or ""),
            refuse_reason=str(body.get("commentRefuseReason") or ""),
            external_id=str(body.get("externalMissionId") or ""),
            time=str(body.get("time") or ""),
            attempts=attempts,
        )

    async def _change(self, operation: str, params: Mapping[str, str]) -> Answer:
        id_mission = params["idMission"]
        response, attempts = await self._call(operation, params)
        message = str(_json(response).get("message") or response.text[:500])
        if response.status_code in (200, 201) and not answers.reports_failure(message, id_mission):
            return Answer(operation, id_mission, response.status_code, message, attempts)
        raise _rejection(operation, id_mission, response, attempts)

    # -- one call: retries, re-authentication, the breaker -------------------------------

    async def _call(self, operation: str, params: Mapping[str, str]) -> tuple[httpx.Response, int]:
        attempts = 0
        maybe_applied = False
        try:
            async for attempt in self.retry.retrying():
                with attempt:
                    attempts += 1
                    try:
                        response = await self._attempt(operation, params)
                    except TransientFailure as failure:
                        maybe_applied = maybe_applied or failure.maybe_applied
                        raise
        except TransientFailure as last:
            raise OceanUnavailable(
                answers.unavailable(operation).format(
                    id=params["idMission"], attempts=attempts, why=last.reason
                ),
                http_status=last.http_status,
                vendor_message=last.vendor_message,
                attempts=attempts,
                maybe_applied=maybe_applied and operation != "status",
            ) from None
        return response, attempts

    async def _attempt(self, operation: str, params: Mapping[str, str]) -> httpx.Response:
        token = await self._current_token()
        response = await self._exchange(self._mission_request(operation, params, token))
        if response.status_code == 401:
            # The token expired early or was revoked: one fresh token, one more try.
            token = await self._renew_token(stale=token)
            response = await self._exchange(self._mission_request(operation, params, token))
            if response.status_code == 401:
                raise AuthenticationError(
                    _("Ocean refused a fresh token for login {login} (HTTP 401): {message}").format(
                        login=quoted(self.login), message=_json(response).get("message", "")
                    ),
                    http_status=401,
                    vendor_message=str(_json(response).get("message", "")),
                )
        return response

    def _mission_request(
        self, operation: str, params: Mapping[str, str], token: Secret
    ) -> httpx.Request:
        headers = {"X-AUTH-TOKEN": token.reveal()}
        path = _PATHS[operation]
        if operation == "status":
            return self._http.build_request("GET", path, params=params, headers=headers)
        if self.form_encoding:
            return self._http.build_request("POST", path, data=params, headers=headers)
        return self._http.build_request("POST", path, params=params, headers=headers)

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        """Send one request; a failure that may pass becomes ``TransientFailure``."""
        self.breaker.before_attempt()
        async with self.pacer.turn() if self.pacer else contextlib.nullcontext(Turn()) as turn:
            response = await self._sent(request)
            retry_after = _retry_after(response)
            turn.answered(response.status_code, retry_after)
        return self._read(response, retry_after)

    async def _sent(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._http.send(request)
        except httpx.ConnectError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):  # no retry can fix that
                raise OceanUnavailable(
                    _(
                        "Ocean's TLS certificate at {host} is not trusted: if a company proxy "
                        "signs it, give its CA bundle ([ocean] ca_bundle, OCEAN_CA_BUNDLE or "
                        "--ca-bundle)"
                    ).format(host=host_of(self.base_url))
                ) from None
            self.breaker.record_failure()
            raise TransientFailure(describe(exc), maybe_applied=False) from None
        except httpx.TransportError as exc:
            self.breaker.record_failure()
            raise TransientFailure(
                describe(exc), maybe_applied=not isinstance(exc, _NOT_SENT)
            ) from None

    def _read(self, response: httpx.Response, retry_after: float | None) -> httpx.Response:
        if response.status_code == 429 or response.status_code >= 500:
            message = str(_json(response).get("message") or "")
            if response.status_code >= 500:
                self.breaker.record_failure()
            raise TransientFailure(
                f"HTTP {response.status_code}" + (f" « {message} »" if message else ""),
                http_status=response.status_code,
                vendor_message=message,
                retry_after=retry_after,
                # A 5xx may come after the change was applied; a 429 comes before.
                maybe_applied=response.status_code >= 500,
            )
        self.breaker.record_success()
        return response

    # -- the token -----------------------------------------------------------------------

    async def _current_token(self) -> Secret:
        token = self._token
        if token is not None and not self._token_expiring():
            return token
        async with self._token_lock:
            if self._token is None or self._token_expiring():
                await self._authenticate()
            assert self._token is not None
            return self._token

    async def _renew_token(self, stale: Secret) -> Secret:
        async with self._token_lock:
            # Concurrent calls that all got a 401 share one new token.
            if self._token is stale:
                await self._authenticate()
            assert self._token is not None
            return self._token

    def _token_expiring(self) -> bool:
        age = self.clock() - self._token_obtained_at
        return age >= self.token_lifetime - TOKEN_RENEWAL_MARGIN_SECONDS

    async def _authenticate(self) -> None:
        credentials = {"login": self.login, "password": self._password.reveal()}
        try:
            async for attempt in self.retry.retrying():
                with attempt:
                    login = self._http.build_request(
                        "POST", _PATHS["authenticate"], json=credentials
                    )
                    response = await self._exchange(login)
        except TransientFailure as failure:
            raise OceanUnavailable(
                _("Ocean could not be reached to log in at {host}: {why}").format(
                    host=host_of(self.base_url), why=failure.reason
                ),
                http_status=failure.http_status,
            ) from None
        body = _json(response)
        token = body.get("token")
        if response.status_code not in (200, 201) or not token:
            message = str(body.get("message") or "")
            raise AuthenticationError(
                _(
                    "Ocean refused the login {login} (HTTP {status}{message}): check the login "
                    "and password (OCEAN_LOGIN, OCEAN_PASSWORD)"
                ).format(
                    login=quoted(self.login),
                    status=response.status_code,
                    message=f" « {message} »" if message else "",
                ),
                http_status=response.status_code,
                vendor_message=message,
            )
        self._token = Secret(str(token))
        self._token_obtained_at = self.clock()
        self.authentications += 1
        self._note_password_expiry(body.get("passwordExpirationRemainingDays"))

    def _note_password_expiry(self, days: object) -> None:
        if not isinstance(days, int) or isinstance(days, bool):
            return
        first = self.password_expires_in_days is None
        self.password_expires_in_days = days
        if first and days <= PASSWORD_WARNING_DAYS:
            when = (
                _("today (or the account does not report it)")
                if days == 0
                else ngettext("in {n} day", "in {n} days", days).format(n=days)
            )
            log.warning(
                _(
                    "The Ocean password of login %r expires %s: change it, then update "
                    "OCEAN_PASSWORD or the password file, or scheduled imports will start "
                    "failing."
                ),
                self.login,
                when,
            )


def _key(id_mission: str, customer_id: int | None) -> dict[str, str]:
    params = {"idMission": id_mission}
    if customer_id is not None:
        params["customerId"] = str(customer_id)
    return params


def _rejection(
    operation: str, id_mission: str, response: httpx.Response, attempts: int
) -> MissionRejected:
    """The exception for an answer that refuses the change (never retried)."""
    message = str(_json(response).get("message") or response.text[:500])
    kind: type[MissionRejected] = MissionRejected
    if response.status_code == 404 or answers.says_not_found(message, id_mission):
        kind = MissionNotFound
    if operation == "create" and answers.says_exists(message, id_mission):
        kind = MissionExists
    return kind(
        answers.refused(operation).format(
            id=id_mission, status=response.status_code, message=message or _("no message")
        ),
        http_status=response.status_code,
        vendor_message=message,
        attempts=attempts,
    )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(response: httpx.Response) -> float | None:
    return answers.retry_after_seconds(response.headers.get("Retry-After"))


def _log_retry(state: RetryCallState) -> None:
    failure = state.outcome.exception() if state.outcome else None
    reason = failure.reason if isinstance(failure, TransientFailure) else repr(failure)
    log.info(
        _("attempt %d failed (%s); next try in %.1f s"),
        state.attempt_number,
        reason,
        state.upcoming_sleep,
    )
