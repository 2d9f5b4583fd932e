"""The connections to Ocean: one pool per connection, a request given to a free one.

httpcore's connection pool looks at every connection it holds each time a request starts and
each time an answer ends (has it expired? is its socket readable?, through anyio's socket
attributes): with 16 connections that bookkeeping was a third of the client's CPU. Each
connection here lives in a pool of its own (httpx's own transport, limited to one
connection), so that bookkeeping looks at one; the request goes to a pool whose connection
is free. Measured on this project's sandbox at 20 ms and 16 at once: the CPU
per call halved, 1.6 x the calls per second (``bench/README.md``). A forward proxy named
by the environment (``environment_proxy``) carries every connection.
"""

from __future__ import annotations

import logging
import ssl
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import cast

import httpx

from importer.errors import ConfigError
from importer.i18n import _

log = logging.getLogger(__name__)

_ONE_CONNECTION = httpx.Limits(max_connections=1, max_keepalive_connections=1)


def connections_to(url: str, size: int, *, verify: bool | ssl.SSLContext = True) -> Connections:
    """The connections to ``url``, through the proxy the environment names for it, if any
    (logged, since every call then depends on it)."""
    proxy = environment_proxy(url)
    if proxy is not None:
        log.info(_("Ocean is reached through the proxy %s (from the environment)"), proxy.url)
    return Connections(size, verify=verify, proxy=proxy)


def environment_proxy(url: str) -> httpx.Proxy | None:
    """The forward proxy the environment names for ``url``, as curl reads it: HTTPS_PROXY
    (HTTP_PROXY for an http:// URL), else ALL_PROXY, unless NO_PROXY lists the host. A
    transport given to httpx makes it skip the environment, so this module reads it."""
    target = httpx.URL(url)
    if urllib.request.proxy_bypass(target.host):
        return None
    proxies = urllib.request.getproxies()
    address = proxies.get(target.scheme) or proxies.get("all")
    if not address:
        return None
    if "://" not in address:  # "proxy:3128", as curl takes it
        address = "http://" + address
    try:
        proxy = httpx.URL(address)
    except httpx.InvalidURL:
        proxy = None
    if proxy is None or proxy.scheme not in ("http", "https") or not proxy.host:
        shown = f" {proxy.copy_with(username=None, password=None)}" if proxy else ""
        raise ConfigError(
            _("the proxy{proxy} that the environment names is not an http:// or https:// "
              "address (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY; NO_PROXY to go without one)")
            .format(proxy=shown)
        )  # fmt: skip
    return httpx.Proxy(proxy)


class Connections(httpx.AsyncBaseTransport):
    """Up to ``size`` connections, opened as they are needed (a short run opens few)."""

    def __init__(
        self, size: int, *, verify: bool | ssl.SSLContext = True, proxy: httpx.Proxy | None = None
    ) -> None:
        self._size = max(1, size)
        self._verify = verify
        self._proxy = proxy
        self._tls: ssl.SSLContext | None = None  # one for all, made with the first connection
        self._pools: list[httpx.AsyncHTTPTransport] = []
        self._in_flight: list[int] = []

    def _pool_for_a_request(self) -> int:
        for index, in_flight in enumerate(self._in_flight):
            if not in_flight:
                return index
        if len(self._pools) < self._size:
            if self._tls is None:
                self._tls = httpx.create_ssl_context(verify=self._verify)
            self._pools.append(
                httpx.AsyncHTTPTransport(
                    verify=self._tls, limits=_ONE_CONNECTION, proxy=self._proxy
                )
            )
            self._in_flight.append(0)
            return len(self._pools) - 1
        # More requests than connections (the pacer never asks for it): the least busy waits.
        return min(range(len(self._pools)), key=self._in_flight.__getitem__)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = self._pool_for_a_request()
        self._in_flight[index] += 1

        def release() -> None:
            self._in_flight[index] -= 1

        try:
            response = await self._pools[index].handle_async_request(request)
        except BaseException:
            release()
            raise
        # The connection is busy until the answer's body is read or dropped.
        response.stream = _ReleasedWhenClosed(cast(httpx.AsyncByteStream, response.stream), release)
        return response

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


class _ReleasedWhenClosed(httpx.AsyncByteStream):
    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._inner: httpx.AsyncByteStream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()
