"""The language of what a person reads: gettext catalogs made with Babel.

The messages are written in English in the code (the msgids) and translated in
``importer/locale/<lang>/LC_MESSAGES/messages.po``; the catalog is read from the ``.po`` file
itself, once per process (no compile step to forget). ``make messages`` extracts the
messages and updates the catalog (see the README's "Translations").

The language in force is a context variable: a command sets it once (``use``); the web page
sets it per request, for the user who asked. Machine interfaces (``--json``, the JSON logs, the
saved plan, exit codes) never go through here.

    from importer.i18n import _, ngettext
    _("Report: {path}").format(path=...)
    ngettext("{n} warning", "{n} warnings", n).format(n=number(n))
"""

from __future__ import annotations

import contextlib
import gettext as _gettext
import io
from collections.abc import Iterator
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import LazyProxy

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"

_language: ContextVar[str] = ContextVar("language", default=DEFAULT_LANGUAGE)


@cache
def translations(language: str) -> _gettext.NullTranslations:
    """The catalog of ``language`` (English is the code's own words)."""
    po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == "en" or not po.is_file():
        return _gettext.NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return _gettext.GNUTranslations(compiled)


def language() -> str:
    return _language.get()


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


def lazy(message: str) -> str:
    """A message translated when it is shown, not when the module is imported (``--help``
    texts, the titles of the problem kinds): it acts as a string."""
    return LazyProxy(_, message, enable_cache=False)  # type: ignore[return-value]


def number(value: float) -> str:
    """``1 234`` in French, ``1,234`` in English."""
    return format_decimal(value, locale=language())
