"""``serve`` (the web page), ``hash-password`` and ``sandbox`` (a local Ocean for demos)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import wraps
from pathlib import Path
from typing import Any

import click

from importer.cli.options import (
    Localised,
    apply_options,
    load,
    log_format_option,
    state_option,
    valued,
)
from importer.config import OceanSettings, Secret, Settings
from importer.errors import EXIT_OK, ConfigError, UsageError
from importer.i18n import N_, Lazy, _, lazy, pgettext, system_reason
from importer.logs import configure_logging
from importer.sandbox.world import (
    DEFAULT_CUSTOMERS,
    DEFAULT_HOST,
    DEFAULT_LOGIN,
    DEFAULT_PASSWORD,
    DEFAULT_PORT,
    ECHO_STYLES,
    FAILURE_KINDS,
    Account,
    Faults,
    World,
)

log = logging.getLogger("importer")


@contextlib.contextmanager
def demo_sandbox(settings: Settings) -> Iterator[Settings]:
    """A sandbox for this command, and the settings that import into it."""
    from importer.sandbox.server import SandboxServer  # the server side loads only when used

    customers = (settings.customer_id,) if settings.customer_id else DEFAULT_CUSTOMERS
    world = World([Account(DEFAULT_LOGIN, DEFAULT_PASSWORD, customers=customers)])
    with SandboxServer(world) as server:
        yield replace(
            settings,
            ocean=OceanSettings(
                base_url=server.base_url, login=DEFAULT_LOGIN, password=Secret(DEFAULT_PASSWORD)
            ),
        )


@click.command(
    cls=Localised,
    help=lazy(
        "The web page for dispatchers: log in, upload a planning, review, confirm, download.\n\n"
        "Serve it behind an HTTPS reverse proxy when it is not on this machine only: its session "
        "cookie is marked Secure except on loopback."
    ),
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
@click.option(
    "--work",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path(".ocean-import") / "web",
    show_default=True,
    help=N_("Where uploads, plans and results workbooks are kept."),
)
@click.option(
    "--sandbox",
    "use_sandbox",
    is_flag=True,
    help=N_(
        "Import into a sandbox started with the page (a demo; user demo, password demo "
        "when the configuration names no user)."
    ),
)
@state_option
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    default=None,
    help=N_("TOML configuration file (also OCEAN_IMPORT_CONFIG); [web] users."),
)
@click.option("-v", "--verbose", count=True, help=N_("More log output."))
@log_format_option
def serve(
    host: str,
    port: int,
    work: Path,
    use_sandbox: bool,
    state_path: str | None,
    config_file: Path | None,
    verbose: int,
    log_format: str,
) -> int:
    import uvicorn

    from importer.pipeline import DEFAULT_STATE_PATH, check_connection_settings
    from importer.web.app import WebConfig, create_web_app
    from importer.web.passwords import hash_password

    configure_logging(verbose, False, log_format)
    settings = load(config_file)
    with contextlib.ExitStack() as stack:
        demo_user = use_sandbox and not settings.web_users  # the banner names it only then
        if use_sandbox:
            settings = stack.enter_context(demo_sandbox(settings))
            settings = replace(
                settings, web_users=settings.web_users or {"demo": hash_password("demo")}
            )
            state_path = state_path or str(work / "sandbox-state.db")
        if not settings.web_users:
            raise ConfigError(
                _(
                    "no user may log in: add [web] users to the configuration (hashes from "
                    "`ocean-import hash-password`)"
                )
            )
        check_connection_settings(settings)  # a missing connection setting: say so now
        loopback = host in ("127.0.0.1", "localhost", "::1")
        app = create_web_app(
            WebConfig(
                settings,
                state_path or settings.state or str(DEFAULT_STATE_PATH),
                work,
                secure_cookies=not loopback,
            )
        )
        banner = _("ocean-import page on {url}").format(url=f"http://{host}:{port}/")
        if demo_user:
            banner += _("  (sandbox; user demo, password demo)")
        elif use_sandbox:
            banner += _("  (sandbox; the users of the configuration: {users})").format(
                users=", ".join(sorted(settings.web_users))
            )
        click.echo(banner)
        log.info(_("serving on http://%s:%d/"), host, port, extra={"event": "serving"})
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            # JSON: uvicorn's lines through our handlers, not its own formatters
            log_config=None if log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        )
    return EXIT_OK


@click.command(
    "hash-password",
    cls=Localised,
    help=lazy("Print the hash of a password, for [web] users in the configuration."),
)
def hash_password_command() -> None:
    from importer.web.passwords import hash_password

    suffix = pgettext("prompt", ": ")  # French puts a space before the colon
    while True:  # not click's confirmation_prompt: its "do not match" is English only
        password = click.prompt(_("Password"), hide_input=True, prompt_suffix=suffix)
        again = click.prompt(_("Repeat for confirmation"), hide_input=True, prompt_suffix=suffix)
        if password == again:
            break
        click.echo(_("The two passwords typed differ: type it again."), err=True)
    click.echo(hash_password(password))


def _failure_kinds() -> str:
    """The epilog of ``sandbox --help``: what each KIND of ``--fail-mission`` does."""
    kinds = _("; ").join(f"{kind} = {what}" for kind, what in FAILURE_KINDS.items())
    return _("KIND of --fail-mission: {kinds}.").format(kinds=kinds)


def _fail_missions(entries: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    scripted = []
    for entry in entries:
        id_mission, _colon, kinds = entry.rpartition(":")
        if not id_mission or not kinds:
            raise click.BadParameter(
                _("{entry}: expected IDMISSION:KIND[,KIND...]").format(entry=entry)
            )
        scripted.append((id_mission, kinds.split(",")))
    return scripted


_SHARE = click.FloatRange(0, 1)  # a share: 0.1 is 10%


def _fault_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The faults the sandbox starts with (all off by default): ``faults``."""
    flags = [
        valued(
            "--latency", float, 0, N_("Fault: milliseconds added to every answer."), shown=False
        ),
        valued(
            "--jitter",
            float,
            0,
            N_("Fault: plus up to this many random milliseconds."),
            shown=False,
        ),
        valued(
            "--error-share",
            _SHARE,
            0,
            N_("Fault: share of requests answered 500 or 503 (0.1 = 10%), change not applied."),
            shown=False,
        ),
        valued(
            "--rate-limit",
            float,
            0,
            N_("Fault: requests per second beyond which it answers 429 (0: no limit)."),
            shown=False,
        ),
        click.option(
            "--no-retry-after",
            is_flag=True,
            help=N_("Fault: send 429 without a Retry-After header."),
        ),
        valued(
            "--drop-before",
            _SHARE,
            0,
            N_("Fault: share of connections dropped before the change is applied."),
            shown=False,
        ),
        valued(
            "--drop-after",
            _SHARE,
            0,
            N_(
                "Fault: share of connections dropped after the change is applied "
                "(the ambiguous timeout)."
            ),
            shown=False,
        ),
        valued(
            "--token-lifetime",
            float,
            12 * 3600,
            N_("Fault: seconds a token stays valid (Ocean: 12 hours)."),
        ),
        valued(
            "--token-uses",
            click.IntRange(min=0),
            0,
            N_("Fault: mission calls a token answers before it expires (0: no limit)."),
        ),
        valued("--slow-seconds", float, 60, N_("How long a 'slow' scripted failure waits.")),
        valued(
            "--status-step",
            float,
            30,
            N_(
                "Seconds between two status changes (Envoyée, Reçue, Acceptée or Refusée...).",
            ),
        ),
        valued("--refuse-share", _SHARE, 0.1, N_("Share of sent missions that drivers refuse.")),
    ]

    @wraps(command)
    def with_faults(*args: Any, latency: float, jitter: float, no_retry_after: bool,
                    drop_before: float, drop_after: float, **kwargs: Any) -> Any:  # fmt: skip
        names = ("error_share", "rate_limit", "token_lifetime", "token_uses", "slow_seconds",
                 "status_step", "refuse_share")  # fmt: skip
        kwargs["faults"] = Faults(
            latency=latency / 1000, jitter=jitter / 1000, retry_after=not no_retry_after,
            drop_before_share=drop_before, drop_after_share=drop_after,
            **{name: kwargs.pop(name) for name in names},
        )  # fmt: skip
        return command(*args, **kwargs)

    return apply_options(flags, with_faults)


@click.command(
    cls=Localised,
    help=lazy(
        "Serve a local Ocean-compatible server, for demos and tests (missions kept in memory).\n\n"
        "It implements auth/authenticate2 and the four geomission endpoints under /ocean/restapi "
        "as the vendor documents them, and lists what it holds at /_sandbox/missions and "
        "/_sandbox/requests. Faults are off unless asked for; they can also be changed while it "
        "runs with POST /_sandbox/faults. Stop it with Ctrl-C."
    ),
    epilog=Lazy(_failure_kinds),
)
@click.option("--host", default=DEFAULT_HOST, show_default=True, help=N_("Address it listens on."))
@click.option(
    "--port", type=int, default=DEFAULT_PORT, show_default=True, help=N_("Port it listens on.")
)
@click.option("--login", default=None, help=N_("Login it accepts (else OCEAN_LOGIN, else demo)."))
@click.option(
    "--password", default=None, help=N_("Password it accepts (else OCEAN_PASSWORD, else demo).")
)
@click.option(
    "--customer",
    "customers",
    type=int,
    multiple=True,
    help=N_(
        "A customerId the login may use (repeat it: more than one makes the account "
        "multi-client, and customerId required). Default: 4242."
    ),
)
@valued(
    "--password-days",
    int,
    90,
    N_("passwordExpirationRemainingDays it answers (14 or less: the client warns)."),
)
@click.option(
    "--fail-mission",
    multiple=True,
    metavar="ID:KIND[,KIND]",
    help=N_(
        "Fault: the next requests about mission ID fail, one KIND each, in order (the kinds "
        "are below)."
    ),
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    metavar="ID=STATUS",
    help=N_(
        "Give mission ID this status, as a driver's screen would (En cours, Acceptée...), "
        "until a modify sends it again."
    ),
)
@_fault_options
@valued(
    "--echo-id",
    click.Choice(ECHO_STYLES),
    "quoted",
    N_(
        "How answers name the mission: « M-1 », M-1 bare (as many services do), or not at all.",
    ),
)
@valued("--seed", int, None, N_("Seed of the random faults (repeatable runs)."), shown=False)
@click.option("-v", "--verbose", is_flag=True, help=N_("Log every request (access log)."))
@log_format_option
def sandbox(
    host: str,
    port: int,
    login: str | None,
    password: str | None,
    customers: tuple[int, ...],
    password_days: int,
    fail_mission: tuple[str, ...],
    statuses: tuple[str, ...],
    faults: Faults,
    echo_id: str,
    seed: int | None,
    verbose: bool,
    log_format: str,
) -> int:
    account = Account(
        login or os.environ.get("OCEAN_LOGIN") or DEFAULT_LOGIN,
        password or os.environ.get("OCEAN_PASSWORD") or DEFAULT_PASSWORD,
        customers=customers or DEFAULT_CUSTOMERS,
        password_days=password_days,
    )
    world = World([account], faults=faults, seed=seed, echo_id=echo_id)
    # The server side (Starlette, uvicorn) is loaded only by the commands that serve.
    from importer.sandbox import app as sandbox_app
    from importer.sandbox import server as sandbox_server

    try:
        for id_mission, kinds in _fail_missions(fail_mission):
            world.script(id_mission, *kinds)
    except ValueError as exc:
        raise UsageError(_("--fail-mission: {problem}").format(problem=exc)) from None
    for entry in statuses:
        id_mission, equals, status = entry.partition("=")
        if not (id_mission and equals and status):
            raise UsageError(_("--status {entry}: expected ID=STATUS").format(entry=entry))
        world.set_status(id_mission, status)
    try:
        listening = sandbox_server.bind(host, port)
    except OSError as exc:
        raise UsageError(
            _(
                "the sandbox cannot listen on {host}:{port} ({why}): choose another --port or "
                "--host"
            ).format(host=host, port=port, why=system_reason(exc))
        ) from None
    url = f"http://{host}:{listening.getsockname()[1]}"
    logins = ", ".join(map(str, account.customers))
    base_path, control_path = sandbox_app.BASE_PATH, sandbox_app.CONTROL_PATH
    words = {"url": url, "base": base_path, "control": control_path, "login": account.login}
    click.echo(_("Ocean sandbox on {url}{base}").format(**words))
    if account.multi_client:
        click.echo(
            _("  login {login} (multi-client {customers}); password not shown").format(
                customers=logins, **words
            )
        )
    else:
        click.echo(
            _("  login {login} (customer {customers}); password not shown").format(
                customers=logins, **words
            )
        )
    click.echo(
        _("  missions: {url}{control}/missions   requests: {url}{control}/requests").format(**words)
    )
    click.echo(
        _("  import into it: OCEAN_BASE_URL={url}{base} OCEAN_LOGIN={login} ...").format(**words)
    )
    click.echo(_("  Ctrl-C to stop"))
    if log_format == "json":
        configure_logging(1 if verbose else 0, False, log_format)
    sandbox_server.serve_forever(
        world, listening, access_log=verbose, root_logging=log_format == "json"
    )
    return EXIT_OK
