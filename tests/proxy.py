"""A forward HTTP proxy on loopback, as a depot's network may impose one: it relays each
request (in absolute form, ``POST http://host:port/path``) to its origin, tunnels each
``CONNECT host:port`` (an https:// origin: the TLS goes through untouched), and keeps what
it carried, with the ``Proxy-Authorization`` it was given."""

from __future__ import annotations

import http.client
import http.server
import select
import socket
import threading
import urllib.parse
from types import TracebackType

# Hop-by-hop headers: for the proxy, not passed on.
_HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-connection",
        "transfer-encoding", "content-length"}  # fmt: skip


class ForwardProxy:
    def __init__(self) -> None:
        self.carried: list[str] = []
        self.credentials: set[str] = set()
        proxy = self

        class Relay(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real proxy

            def relay(self) -> None:
                target = urllib.parse.urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                origin = http.client.HTTPConnection(target.hostname or "", target.port, timeout=30)
                try:
                    origin.request(self.command, target.path + (f"?{target.query}" if target.query else ""),
                                   body=body, headers=headers)  # fmt: skip
                    answer = origin.getresponse()
                    content = answer.read()
                finally:
                    origin.close()
                proxy.carried.append(f"{self.command} {target.path}")
                proxy.credentials.add(self.headers.get("Proxy-Authorization", ""))
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in _HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = relay

            def do_CONNECT(self) -> None:
                host, _, port = self.path.rpartition(":")
                upstream = socket.create_connection((host, int(port)), timeout=30)
                proxy.carried.append(f"CONNECT {self.path}")
                proxy.credentials.add(self.headers.get("Proxy-Authorization", ""))
                self.send_response(200, "Connection established")
                self.end_headers()
                ends = {self.connection: upstream, upstream: self.connection}
                with upstream:
                    while ready := select.select(list(ends), [], [], 30)[0]:
                        data = ready[0].recv(65536)
                        if not data:
                            break
                        ends[ready[0]].sendall(data)
                self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Relay)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
