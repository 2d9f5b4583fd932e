"""The language of what a person reads: gettext catalogs made with Babel.

The messages are written in English in the code (the msgids) and translated in
``importer/locale/<lang>/LC_MESSAGES/messages.po``. ``make messages`` extracts the messages,
updates the catalog and compiles it beside it (``messages.mo``, read in a millisecond where
parsing the ``.po`` takes a tenth of a second: every command pays it before its first word);
a test holds the compiled catalog to its ``.po``. Without a ``.mo`` the ``.po`` is read.

The language in force is a context variable: a command sets it once (``use``); the web page
sets it per request, for the user who asked. Machine interfaces (``--json``, the JSON logs, the
saved plan, exit codes) never go through here.

    from importer.i18n import _, ngettext
    _("Report: {path}").format(path=...)
    ngettext("{n} warning", "{n} warnings", n).format(n=number(n))
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import gettext as _gettext
import io
import os
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.numbers import format_decimal

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


def _from_environment() -> str:
    asked = os.environ.get("OCEAN_IMPORT_LANG", "")
    return asked if asked in LANGUAGES else DEFAULT_LANGUAGE


# A process speaks ``OCEAN_IMPORT_LANG`` (else French) until told otherwise: the command line
# and the web page set it from the settings; a script using the library follows the variable.
_PROCESS_LANGUAGE = _from_environment()
_language: ContextVar[str] = ContextVar("language")


@cache
def translations(language: str) -> _gettext.NullTranslations:
    """The catalog of ``language`` (English is the code's own words)."""
    po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == "en" or not po.is_file():
        return _gettext.NullTranslations()
    compiled_beside = po.with_suffix(".mo")
    if compiled_beside.is_file():
        with compiled_beside.open("rb") as source:
            return _gettext.GNUTranslations(source)
    return compile_catalog(po, language)


def compile_catalog(po: Path, language: str) -> _gettext.GNUTranslations:
    """The ``.po`` file compiled in memory (Babel's parser: a tenth of a second)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return _gettext.GNUTranslations(compiled)


def language() -> str:
    return _language.get(_PROCESS_LANGUAGE)


def use(lang: str) -> None:
    """Speak ``lang`` from now on, in this context (a command, a request)."""
    _language.set(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)


@contextlib.contextmanager
def speaking(lang: str) -> Iterator[None]:
    """Speak ``lang`` inside the block only (a web request, a test)."""
    token = _language.set(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _language.reset(token)


def _(message: str) -> str:
    return translations(language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(language()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return translations(language()).pgettext(context, message)


def N_(message: str) -> str:
    """A message for the catalog, translated where it is shown rather than here (click keeps
    an option's help as a plain string, fixed before the language is known)."""
    return message


class Lazy:
    """A text made each time it is used, so in the language of that moment, and acting as the
    string it makes. Babel's ``LazyProxy`` does the same, but its module imports Babel's dates,
    which scan the system's time zones on import: a tenth of a second of every command."""

    __slots__ = ("_make",)

    def __init__(self, make: Callable[[], str]) -> None:
        self._make = make

    def __str__(self) -> str:
        return self._make()

    def __repr__(self) -> str:
        return repr(self._make())

    def __getattr__(self, name: str) -> object:
        return getattr(self._make(), name)

    def __len__(self) -> int:
        return len(self._make())

    def __bool__(self) -> bool:
        return bool(self._make())

    def __iter__(self) -> Iterator[str]:
        return iter(self._make())

    def __contains__(self, item: str) -> bool:
        return item in self._make()

    def __getitem__(self, key: int | slice) -> str:
        return self._make()[key]

    def __add__(self, other: str) -> str:
        return self._make() + other

    def __radd__(self, other: str) -> str:
        return other + self._make()

    def __mod__(self, other: object) -> str:
        return self._make() % other

    def __eq__(self, other: object) -> bool:
        return self._make() == (str(other) if isinstance(other, Lazy) else other)

    def __lt__(self, other: object) -> bool:
        return self._make() < str(other)

    def __hash__(self) -> int:
        return hash(self._make())

    def __format__(self, spec: str) -> str:
        return format(self._make(), spec)


def lazy(message: str) -> str:
    """A message translated when it is shown, not when the module is imported (``--help``
    texts, the titles of the problem kinds): it acts as a string."""
    return Lazy(lambda: _(message))  # type: ignore[return-value]


def quoted(text: object) -> str:
    """A name or a value quoted as the reader's language does: ``'LIV-01'``, « LIV-01 »."""
    return _("'{value}'").format(value=text)


def number(value: float) -> str:
    """``1 234`` in French, ``1,234`` in English."""
    return format_decimal(value, locale=language())


def moment(when: dt.datetime) -> str:
    """A moment in this machine's time zone: ``02/12/2026 03:40`` in French."""
    from babel.dates import format_datetime  # Babel's dates read the local zone on import

    local = when.astimezone() if when.tzinfo else when
    return format_datetime(local, "short", tzinfo=local.tzinfo, locale=language())


# The system's own reasons are English (the C library's): the usual ones, said in the
# reader's language; any other is shown as the system gives it.
_SYSTEM_REASONS = {
    errno.EACCES: lazy("permission denied"),
    errno.EPERM: lazy("operation not permitted"),
    errno.ENOENT: lazy("no such file or folder"),
    errno.ENOSPC: lazy("no space left on the disk"),
    errno.EDQUOT: lazy("disk quota exceeded"),
    errno.EROFS: lazy("read-only file system"),
    errno.EISDIR: lazy("it is a folder"),
    errno.ENOTDIR: lazy("a part of the path is not a folder"),
    errno.EEXIST: lazy("it already exists"),
    errno.EADDRINUSE: lazy("the address is already in use"),
    errno.EADDRNOTAVAIL: lazy("the address is not available on this machine"),
    errno.ENAMETOOLONG: lazy("the name is too long"),
}


def system_reason(error: BaseException) -> str:
    """Why the system refused (``OSError``), in the reader's language."""
    code = getattr(error, "errno", None)
    if code in _SYSTEM_REASONS:
        return str(_SYSTEM_REASONS[code])
    return getattr(error, "strerror", None) or str(error)
