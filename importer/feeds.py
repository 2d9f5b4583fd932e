"""Which feed (planning stream) a file belongs to: the diff compares a file with the
missions of its feed only, so that two depots' plannings never cancel each other."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from importer.config import ImportOptions, Settings

if TYPE_CHECKING:
    from importer.store import Store

_YEAR = r"(?:19|20)\d\d"
_MONTH = r"(?:0?[1-9]|1[0-2])"
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_SEP = r"[-_. ]"
_TIME = r"(?:[T_\- ]?(?:[01]\d|2[0-3])[h:\-]?[0-5]\d(?:[:\-]?[0-5]\d)?)?"
_DATE_STAMP = re.compile(
    r"(?<![0-9])(?:"
    rf"{_YEAR}{_SEP}{_MONTH}{_SEP}{_DAY}"  # 2026-11-24
    rf"|{_DAY}{_SEP}{_MONTH}{_SEP}{_YEAR}"  # 24-11-2026, 24.11.2026
    rf"|{_YEAR}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"  # 20261124
    rf"|(?:0[1-9]|[12]\d|3[01])(?:0[1-9]|1[0-2]){_YEAR}"  # 24112026
    r"|(?:0[1-9]|[12]\d|3[01])[-_.](?:0[1-9]|1[0-2])"  # 24.11
    rf"){_TIME}(?![0-9])"
    r"|(?<![A-Za-z])[Jj] ?[+-] ?\d{1,2}(?![0-9])"  # J+1, J-2
)
_DIGITS = re.compile(r"\d+")
_SEPARATORS = re.compile(r"[\s_.\-]+")


def default_feed(path: Path) -> str:
    """The planning stream a file belongs to: its name without its date or time stamp.

    Stripped: ``2026-11-24``, ``24-11-2026``, ``24.11.2026``, ``20261124``, ``24112026``,
    ``24.11`` (with ``_`` ``.`` ``-`` or a space between), a time after any of them
    (``_0830``, ``T08-30-00``), and ``J+1`` / ``J-2``; every other digit is kept, so that
    ``equipe1`` and ``equipe2`` are two feeds.

    >>> default_feed(Path("Tournées-2026-11-24.xlsx")), default_feed(Path("equipe1_20261124.csv"))
    ('Tournées', 'equipe1')
    """
    stem = _DATE_STAMP.sub(" ", Path(path).stem)
    return _SEPARATORS.sub("-", stem).strip("-") or "planning"


def legacy_feed(path: Path) -> str:
    """The feed the first versions gave a file: its name without any digit (``equipe1`` and
    ``equipe2`` were one feed). Kept so that a site's state keeps its feeds (``feed_for``)."""
    stem = _DIGITS.sub(" ", Path(path).stem)
    return _SEPARATORS.sub("-", stem).strip("-") or "planning"


def with_feed(
    path: Path, options: ImportOptions, state: Store, settings: Settings
) -> ImportOptions:
    """The options with the feed of the file and its scope. The feed of a file whose feed comes
    from its name (``--feed`` not given) is ``default_feed``, unless the state already knows
    the file under the name the first versions gave it, and not under the new one; its
    missions stay in their feed (none orphaned, none deleted by surprise), and the summary
    says so. The scope: ``--scope``, else the configuration's for that feed."""
    if options.feed_from_name:
        feed, legacy = default_feed(path), legacy_feed(path)
        known = state.feeds() if feed != legacy else set()
        if legacy in known and feed not in known:
            options = replace(options, feed=legacy, feed_origin="legacy")
        else:
            options = replace(options, feed=feed, feed_origin="name")
    return replace(options, scope=options.scope or settings.scope_for(options.feed))
