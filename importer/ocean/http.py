"""httpx's client as Ocean is called with it: built with the proxy the environment names and
the authorities the certificate is checked against, and its failures told in a sentence."""

from __future__ import annotations

import logging
import ssl
import urllib.request
from pathlib import Path

import certifi
import httpx

from importer import __version__
from importer.errors import ConfigError
from importer.i18n import _

log = logging.getLogger("importer.ocean.client")


def http_client(
    base_url: str,
    timeout: httpx.Timeout,
    max_connections: int,
    *,
    verify: bool | ssl.SSLContext,
    transport: httpx.AsyncBaseTransport | None,
) -> httpx.AsyncClient:
    """httpx's client for Ocean, through the proxy the environment names for it, if any (logged,
    since every call then depends on it); a proxy httpx cannot use is a sentence."""
    proxy = None if transport else environment_proxy(base_url)
    if proxy is not None:
        log.info(_("Ocean is reached through the proxy %s (from the environment)"), proxy)
    try:
        return httpx.AsyncClient(
            base_url=base_url + "/",
            headers={"Accept": "application/json", "User-Agent": f"ocean-import/{__version__}"},
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            verify=verify,
            transport=transport,
        )
    except (ValueError, ImportError):  # httpx.InvalidURL is a ValueError
        raise ConfigError(
            _("the proxy{proxy} that the environment names is not an http:// or https:// "
              "address (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY; NO_PROXY to go without one)")
            .format(proxy=f" {proxy}" if proxy else "")
        ) from None  # fmt: skip


def environment_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (as httpx reads it, through urllib's
    ``getproxies``), without any user:password, for the log and for sentences."""
    target = httpx.URL(url)
    if urllib.request.proxy_bypass(target.host):
        return None
    proxies = urllib.request.getproxies()
    address = proxies.get(target.scheme) or proxies.get("all")
    if not address:
        return None
    try:
        return host_of(address if "://" in address else "http://" + address)
    except httpx.InvalidURL:
        return address.rpartition("@")[2]


def tls_context(ca_bundle: str | None) -> bool | ssl.SSLContext:
    """What the client checks Ocean's certificate against: certifi's authorities, and a
    company's CA bundle besides when one is given (a proxy that signs what it relays). The
    check is never turned off."""
    if not ca_bundle:
        return True
    if not Path(ca_bundle).is_file():
        raise ConfigError(_("the CA bundle {path} does not exist").format(path=ca_bundle))
    context = ssl.create_default_context(cafile=certifi.where())
    try:
        context.load_verify_locations(cafile=ca_bundle)
    except ssl.SSLError:
        raise ConfigError(
            _("the CA bundle {path} is not a PEM certificate file").format(path=ca_bundle)
        ) from None
    return context


def describe(exc: httpx.TransportError) -> str:
    name = type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError):
        return _("cannot connect ({error})").format(error=name)
    if isinstance(exc, httpx.PoolTimeout):
        return _("no free connection in time")
    if isinstance(exc, httpx.TimeoutException):
        return _("no answer in time ({error})").format(error=name)
    if isinstance(exc, httpx.RemoteProtocolError):
        return _("the connection was dropped before the answer")
    return _("network error ({error})").format(error=name)


def host_of(url: str) -> str:
    """The URL without any user:password part, for messages."""
    return str(httpx.URL(url).copy_with(username=None, password=None))
