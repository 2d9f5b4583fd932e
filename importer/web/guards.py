"""What every request of the web page goes through, before and around its handler:
the security headers, a limit on the body however it is sent, the names an upload may have,
and a page with a sentence for an error nobody foresaw.

The body limit counts the bytes as they arrive (``Content-Length`` or chunked alike): past
it, the request is refused before more is read, so that a client can never fill the disk
with temporary files, before or after logging in.
"""

from __future__ import annotations

import logging
import re
import secrets
from pathlib import PurePosixPath
from typing import Any

from importer.i18n import _, speaking

log = logging.getLogger(__name__)

# Any form but an upload is a few fields: a login, a logout, a confirmation.
FORM_BYTES = 64 * 1024
UPLOAD_PATH = "/upload"
_UNSAFE = re.compile(r"[^\w.\- ()]+")
NAME_BYTES = 150  # a file name's stem, in UTF-8 bytes (a folder entry holds 255)


class BodyTooLarge(Exception):
    """The request's body went past its limit: nothing more of it is read."""


class SecurityHeaders:
    """Headers every page carries: no framing, no sniffing, no caching, scripts from nowhere."""

    HEADERS = (
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"content-security-policy", b"default-src 'self'; style-src 'unsafe-inline'"),
        (b"cache-control", b"no-store"),
    )

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


class BodyLimit:
    """Every body counted as it arrives; past the limit of its path, ``BodyTooLarge`` (the
    upload's handler turns it into its page; any other request gets a 413 here)."""

    def __init__(self, app: Any, upload_bytes: int, lang: str) -> None:
        self.app = app
        self.upload_bytes = upload_bytes
        self.lang = lang

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_bytes if scope["path"] == UPLOAD_PATH else FORM_BYTES
        seen = 0
        started = False

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge()
            return message

        async def watched(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if seen > limit:  # the handler answered a body it stopped reading: no more
                    message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if not started:
                await _too_large(send, self.lang)


async def _too_large(send: Any, lang: str) -> None:
    with speaking(lang):
        text = _("The request is too large: nothing of it was kept.")
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"),
               (b"content-length", str(len(body)).encode()), (b"connection", b"close")]  # fmt: skip
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def safe_name(filename: str) -> str:
    """An uploaded file's name as it is kept: its last part only (no folder, no ``..``),
    ordinary characters, a stem of at most ``NAME_BYTES`` bytes, its extension kept."""
    name = PurePosixPath(filename.replace("\\", "/")).name
    name = _UNSAFE.sub("_", name).lstrip(". ")
    stem, dot, suffix = name.rpartition(".") if "." in name else (name, "", "")
    stem = stem.encode()[:NAME_BYTES].decode(errors="ignore").rstrip(". ")
    return f"{stem}{dot}{suffix[:10]}" if stem else "planning.xlsx"


def reference() -> str:
    """A short reference that a page shows and the log holds, to find one error."""
    return secrets.token_hex(4)


def unexpected(error: BaseException, where: str) -> str:
    """Log an error nobody foresaw, with its reference; the sentence a person reads."""
    ref = reference()
    log.error("unexpected error in %s (reference %s)", where, ref, exc_info=error)
    return _(
        "Something went wrong on the server (reference {ref} in its log): nothing more was done; "
        "try again, and if it happens again, give the reference to the person who runs the page."
    ).format(ref=ref)
