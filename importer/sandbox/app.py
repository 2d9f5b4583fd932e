"""The sandbox over HTTP: the vendor endpoints under ``/ocean/restapi``, tools under ``/_sandbox``.

It answers the way the vendor documents its GeoMission web service: mission parameters in the
query string or a form body (a JSON body is not read, as with the vendor's Spring backend,
so a required parameter is then missing), ``X-AUTH-TOKEN`` on every call, ``{"message"}``
bodies in French, strict formats (400, or 422 for a date). It is stricter than the real
service in one way, on purpose: an unknown parameter is refused, so that a client's typo
shows up instead of being silently dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from importer.sandbox.world import Account, Logged, World, format_api_date
from importer.schemas.api import API_DATE_FORMAT, DATE_FIELDS, MISSION_FIELDS

BASE_PATH = "/ocean/restapi"
CONTROL_PATH = "/_sandbox"

_API_DATE = re.compile(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_RANGES = {"latitude": 90.0, "longitude": 180.0}
_KEY_FIELDS = ("customerId", "idMission")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class Refusal(Exception):
    """An answer other than success: the HTTP status and the French message."""

    def __init__(self, http_status: int, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.message = message


class ConnectionDropped(Exception):
    """Raised after a response has started: the server closes the connection mid-answer."""


class _DroppedResponse(Response):
    """Starts an answer, then drops the connection: the client sees no usable reply."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
            }
        )
        raise ConnectionDropped


class _QuietDrops(logging.Filter):
    """The drops are deliberate: keep uvicorn from printing a traceback for each."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


def answer(
    http_status: int, body: Mapping[str, Any], headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(
        dict(body),
        status_code=http_status,
        headers=headers,
        media_type="application/json;charset=utf-8",
    )


def create_app(world: World) -> Starlette:
    """The sandbox application over ``world`` (usable in-process or under uvicorn)."""

    async def authenticate(request: Request) -> Response:
        return await _serve(world, request, "authenticate", _authenticate)

    def mission_route(operation: str, handler: Handler, methods: list[str]) -> Route:
        async def endpoint(request: Request) -> Response:
            return await _serve(world, request, operation, handler)

        return Route(f"{BASE_PATH}/geomission/{_PATHS[operation]}", endpoint, methods=methods)

    async def listing(request: Request) -> Response:
        return JSONResponse(world.missions())

    async def request_log(request: Request) -> Response:
        return JSONResponse([asdict(entry) for entry in world.requests()])

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                world.faults.update(**await request.json())
            except (ValueError, TypeError) as exc:
                return JSONResponse({"message": str(exc)}, status_code=400)
        return JSONResponse(asdict(world.faults))

    async def script(request: Request) -> Response:
        try:
            body = await request.json()
            world.script(str(body["idMission"]), *body["failures"])
        except (ValueError, TypeError, KeyError) as exc:
            return JSONResponse({"message": f"expected idMission and failures: {exc}"}, 400)
        return JSONResponse({"scripted": body["failures"]})

    async def mission_status(request: Request) -> Response:
        try:
            body = await request.json()
            world.set_status(request.path_params["id"], str(body["status"]),
                             str(body.get("statusCode", "")),
                             str(body.get("commentRefuseReason", "")))  # fmt: skip
        except (ValueError, TypeError, KeyError) as exc:
            return JSONResponse({"message": f"expected status (and statusCode): {exc}"}, 400)
        return JSONResponse({"idMission": request.path_params["id"], "status": body["status"]})

    async def remove(request: Request) -> Response:
        removed = world.remove(request.path_params["id"])
        return JSONResponse({"removed": removed}, status_code=200 if removed else 404)

    async def reset(request: Request) -> Response:
        world.reset()
        return JSONResponse({"reset": True})

    routes = [
        Route(f"{BASE_PATH}/auth/authenticate2", authenticate, methods=["POST"]),
        mission_route("create", _create, ["POST"]),
        mission_route("modify", _modify, ["POST"]),
        mission_route("status", _status, ["GET"]),
        mission_route("delete", _delete, ["POST"]),
        Route(f"{CONTROL_PATH}/missions", listing, methods=["GET"]),
        Route(f"{CONTROL_PATH}/missions/{{id}}/status", mission_status, methods=["POST"]),
        Route(f"{CONTROL_PATH}/missions/{{id}}", remove, methods=["DELETE"]),
        Route(f"{CONTROL_PATH}/requests", request_log, methods=["GET"]),
        Route(f"{CONTROL_PATH}/faults", faults, methods=["GET", "POST"]),
        Route(f"{CONTROL_PATH}/script", script, methods=["POST"]),
        Route(f"{CONTROL_PATH}/reset", reset, methods=["POST"]),
    ]
    return Starlette(routes=routes)


_PATHS = {
    "create": "ajoutMission",
    "modify": "modifierMission",
    "status": "statutMission",
    "delete": "supprimerMission",
}

# A handler gets the world, the account, the checked parameters and the scripted failure
# (if any); it returns the HTTP status, the body, and whether the missions changed.
Handler = Callable[..., Awaitable[tuple[int, dict[str, str], bool]]]


async def _serve(world: World, request: Request, operation: str, handler: Handler) -> Response:
    """The path every API request takes: faults first, then authentication, then the work."""
    peer = f"{request.client.host}:{request.client.port}" if request.client else None
    entry = Logged(world.clock(), operation, None, None, 0, applied=False, via=_via(request),
                   connection=peer)  # fmt: skip
    world.record(entry)  # at once: the entry is completed as the request goes on
    delay = world.delay()
    if delay:
        await asyncio.sleep(delay)
    response, dropped = await _answer(world, request, operation, handler, entry)
    return _DroppedResponse() if dropped else response


async def _answer(
    world: World, request: Request, operation: str, handler: Handler, entry: Logged
) -> tuple[Response, bool]:
    if world.over_rate_limit():
        entry.http_status, entry.fault = 429, "rate-limit"
        return _too_many(world), False
    if world.chance(world.faults.error_share):
        entry.http_status = world.random.choice((500, 503))
        entry.fault = str(entry.http_status)
        return _server_error(entry.http_status), False
    if world.chance(world.faults.drop_before_share):
        entry.fault = "drop-before"
        return Response(), True
    try:
        if operation == "authenticate":
            http_status, body, _ = await handler(world, request)
        else:
            account = world.account_for(request.headers.get("X-AUTH-TOKEN"))
            if account is None:
                raise Refusal(401, _unauthorised_message(request))
            params = await _parameters(request, operation)
            customer_id = _customer(account, params)
            entry.id_mission, entry.customer_id = params.get("idMission"), customer_id
            scripted = world.next_scripted(params["idMission"])
            scripted_answer = _scripted(world, scripted, entry)
            if scripted_answer is not None:
                return scripted_answer
            http_status, body, entry.applied = await handler(world, customer_id, params)
            if scripted == "slow":
                await asyncio.sleep(world.faults.slow_seconds)
            if scripted == "drop-after":
                return Response(), True
    except Refusal as refusal:
        entry.http_status = refusal.http_status
        return answer(refusal.http_status, {"message": refusal.message}), False
    entry.http_status = http_status
    if entry.applied and world.chance(world.faults.drop_after_share):
        entry.fault = "drop-after"
        return Response(), True
    return answer(http_status, body), False


def _scripted(world: World, scripted: str | None, entry: Logged) -> tuple[Response, bool] | None:
    """The answer of a scripted failure that stops before the change (None: go on)."""
    entry.fault = scripted
    if scripted in ("500", "503"):
        entry.http_status = int(scripted)
        return _server_error(entry.http_status), False
    if scripted == "429":
        entry.http_status = 429
        return _too_many(world), False
    if scripted == "drop-before":
        return Response(), True
    if scripted == "expired":
        entry.http_status = 401
        return answer(401, {"message": _EXPIRED}), False
    if scripted == "refuse":
        entry.http_status = 200
        message = (
            f"Échec de l'enregistrement de la mission {world.named(entry.id_mission)}: "
            "erreur du référentiel, opération annulée."
        )
        return answer(200, {"message": message}), False
    return None


def _via(request: Request) -> str:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(_FORM_TYPES):
        return "form"
    return "json" if content_type.startswith("application/json") else "query"


def _too_many(world: World) -> Response:
    headers = {"Retry-After": "1"} if world.faults.retry_after else None
    return answer(429, {"message": "Trop de requêtes : réessayez plus tard."}, headers)


def _server_error(http_status: int) -> Response:
    if http_status == 503:
        return answer(503, {"message": "Service temporairement indisponible."})
    return answer(500, {"message": "Erreur interne du serveur."})


def _unauthorised_message(request: Request) -> str:
    if not request.headers.get("X-AUTH-TOKEN"):
        return "Authentification requise : en-tête X-AUTH-TOKEN absent."
    return _EXPIRED


_EXPIRED = "Jeton d'authentification invalide ou expiré : authentifiez-vous à nouveau."


# -- authentication ----------------------------------------------------------------------


async def _authenticate(world: World, request: Request) -> tuple[int, dict[str, Any], bool]:
    try:
        body = json.loads(await request.body())
        login, password = body["login"], body["password"]
        if not isinstance(login, str) or not isinstance(password, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise Refusal(
            400, 'Corps de requête JSON attendu : {"login": "...", "password": "..."}.'
        ) from None
    granted = world.authenticate(login, password)
    if granted is None:
        raise Refusal(401, "Identifiant ou mot de passe incorrect.")
    token, account = granted
    return (
        200,
        {
            "token": token,
            "passwordExpirationRemainingDays": account.password_days,
            "additionalAccountData": {},
        },
        False,
    )


# -- parameters --------------------------------------------------------------------------


async def _parameters(request: Request, operation: str) -> dict[str, str]:
    """Query-string and form parameters, checked as strictly as the documentation allows."""
    items = list(request.query_params.multi_items())
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and content_type.startswith(_FORM_TYPES):
        form = await request.form()
        items += [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
    allowed = MISSION_FIELDS if operation in ("create", "modify") else _KEY_FIELDS
    params: dict[str, str] = {}
    for key, value in items:
        if key not in allowed:
            raise Refusal(400, f"Paramètre inconnu : « {key} ».")
        if key in params:
            raise Refusal(400, f"Le paramètre « {key} » est répété.")
        if value != "":
            params[key] = value
    if "idMission" not in params:
        raise Refusal(400, "Le paramètre obligatoire « idMission » est absent.")
    if operation in ("create", "modify"):
        _check_mission(params)
    return params


def _check_mission(params: Mapping[str, str]) -> None:
    if "jourHeureInter" not in params:
        raise Refusal(400, "Le paramètre obligatoire « jourHeureInter » est absent.")
    for name in DATE_FIELDS:
        if name in params and not _is_api_date(params[name]):
            raise Refusal(
                422,
                f"Format de date invalide pour « {name} » : « {params[name]} ». "
                "Seul le format UTC « dd/MM/yyyy HH:mm » est accepté.",
            )
    if "aEnvoyer" in params and params["aEnvoyer"].lower() not in ("true", "false"):
        raise Refusal(
            400, f"Valeur invalide pour « aEnvoyer » : « {params['aEnvoyer']} » (true ou false)."
        )
    for name, bound in _RANGES.items():
        if name not in params:
            continue
        if not _NUMBER.fullmatch(params[name]):
            raise Refusal(400, f"Valeur numérique invalide pour « {name} » : « {params[name]} ».")
        if abs(float(params[name])) > bound:
            raise Refusal(
                400, f"« {name} » hors limites : {params[name]} (entre -{bound:g} et {bound:g})."
            )
    if ("latitude" in params) != ("longitude" in params):
        raise Refusal(400, "« latitude » et « longitude » vont ensemble.")


def _is_api_date(text: str) -> bool:
    if not _API_DATE.fullmatch(text):
        return False
    try:
        datetime.strptime(text, API_DATE_FORMAT)
    except ValueError:
        return False
    return True


def _customer(account: Account, params: Mapping[str, str]) -> int:
    """The customer a call is about: given, or the account's own when it has only one."""
    if "customerId" not in params:
        if account.multi_client:
            raise Refusal(
                400,
                "Le paramètre « customerId » est obligatoire pour un utilisateur multi-clients.",
            )
        return account.customers[0]
    try:
        customer_id = int(params["customerId"])
    except ValueError:
        raise Refusal(
            400, f"Le paramètre « customerId » doit être un entier : « {params['customerId']} »."
        ) from None
    if customer_id not in account.customers:
        raise Refusal(
            403,
            f"Accès refusé : l'utilisateur « {account.login} » "
            f"n'a pas accès au client {customer_id}.",
        )
    return customer_id


# -- the four operations -----------------------------------------------------------------


def _mission_fields(params: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in params.items() if key != "customerId"}


async def _create(world: World, customer_id: int, params: dict[str, str]) -> tuple[int, dict, bool]:
    id_mission = params["idMission"]
    if not world.create(customer_id, _mission_fields(params)):
        raise Refusal(
            400, f"Échec de la création : la mission {world.named(id_mission)}existe déjà."
        )
    return 201, {"message": f"Mission {world.named(id_mission)}créée avec succès."}, True


async def _modify(world: World, customer_id: int, params: dict[str, str]) -> tuple[int, dict, bool]:
    id_mission = params["idMission"]
    if not world.modify(customer_id, _mission_fields(params)):
        raise Refusal(404, f"Mission {world.named(id_mission)}introuvable.")
    return 200, {"message": f"Mission {world.named(id_mission)}modifiée avec succès."}, True


async def _delete(world: World, customer_id: int, params: dict[str, str]) -> tuple[int, dict, bool]:
    id_mission = params["idMission"]
    if not world.delete(customer_id, id_mission):
        raise Refusal(404, f"Mission {world.named(id_mission)}introuvable.")
    return 200, {"message": f"Mission {world.named(id_mission)}supprimée avec succès."}, True


async def _status(world: World, customer_id: int, params: dict[str, str]) -> tuple[int, dict, bool]:
    id_mission = params["idMission"]
    mission = world.get(customer_id, id_mission)
    if mission is None:
        raise Refusal(404, f"Mission {world.named(id_mission)}introuvable.")
    status = world.status(mission)
    body = {
        "status": status.status,
        "statusCode": status.code,
        "complement": status.complement,
        "commentRefuseReason": status.refuse_reason,
        "externalMissionId": mission.external_id,
        "time": format_api_date(status.since),
    }
    return 200, body, False
