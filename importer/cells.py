"""Turning spreadsheet cells into typed values.

Each parser takes one cell as read (None, str, int, float, bool, datetime, date, time) and
returns ``(value, kind)``: the typed value, and the kind of problem found (None when clean).
Problem kinds are described in ``importer.validate.KINDS``. Parsers are pure, so a column is
parsed once per distinct value (``parse_column``): a planning repeats the same dates, vehicles
and flags many times.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

Parsed = tuple[Any, str | None]

_DAY_FIRST = re.compile(
    r"(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4}) ?(?P<H>\d{1,2})[:h](?P<M>\d{2})(?::(?P<S>\d{2}))?"
)
_ISO = re.compile(
    r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})[ T](?P<H>\d{1,2}):(?P<M>\d{2})"
    r"(?::(?P<S>\d{2})(?:\.\d+)?)?"
)
_DAY_FIRST_DATE_ONLY = re.compile(r"(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})")
_ISO_DATE_ONLY = re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})")
_SHORT_YEAR = re.compile(r"\d{1,2}/\d{1,2}/\d{2}(\D|$)")

# Outside these years a date is a typo (or an Excel serial gone wrong), not a mission.
PLAUSIBLE_YEARS = range(1970, 2200)
# What one spreadsheet cell holds (Excel's limit): a longer text is an error on its row on the
# way in (validate) and marked where it is cut on the way out (report), never cut silently.
MAX_CELL_CHARS = 32_767

_TRUE_WORDS = frozenset({"true", "vrai", "oui", "yes", "1", "x", "o", "y"})
_FALSE_WORDS = frozenset({"false", "faux", "non", "no", "0", "n"})
_DELETE_WORDS = frozenset({"delete", "supprimer", "suppression", "supprime", "suppr"})


def map_distinct(
    values: np.ndarray, function: Callable[[Any], tuple[Any, ...]]
) -> list[np.ndarray]:
    """``function(cell)`` for every cell, called once per distinct value (blanks: once, on None).

    ``function`` returns a tuple; the result is one array per tuple item, aligned with ``values``.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    # Code -1 (a blank cell) picks the trailing result, that of None.
    results = [function(value) for value in uniques] + [function(None)]
    arrays = []
    for position in range(len(results[-1])):
        items = np.empty(len(results), dtype=object)  # no type inference, unlike np.array
        items[:] = [result[position] for result in results]
        arrays.append(items[codes])
    return arrays


def parse_column(values: pd.Series, parser: Callable[[Any], Parsed]) -> tuple[pd.Series, pd.Series]:
    """Apply ``parser`` to every cell of a column; the typed values and the problem kinds.

    The column is factorised once and each distinct value parsed once; where the distinct
    values are many (ids, coordinates), the texts a parser has a vectorised form for are
    parsed as one array, and only the rest (other cells, and the texts that fail) go through
    the parser one by one, so that a problem keeps exactly the parser's kind.
    """
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    typed = np.empty(len(uniques) + 1, dtype=object)  # the last: a blank cell's result
    kinds = np.empty(len(uniques) + 1, dtype=object)
    typed[-1], kinds[-1] = parser(None)
    pending = np.ones(len(uniques), dtype=bool)
    vectorised = _VECTORISED.get(parser)
    if vectorised is not None and len(uniques) >= _VECTORISE_FROM:
        is_text = np.fromiter((type(u) is str for u in uniques), dtype=bool, count=len(uniques))
        texts = np.flatnonzero(is_text)
        parsed, done = vectorised(uniques[texts])
        typed[texts[done]] = parsed[done]
        pending[texts[done]] = False
    for position in np.flatnonzero(pending):
        typed[position], kinds[position] = parser(uniques[position])
    return (
        pd.Series(typed[codes], index=values.index, dtype=object),
        pd.Series(kinds[codes], index=values.index, dtype=object),
    )


# Below this many distinct values, parsing them one by one costs less than the array set-up.
_VECTORISE_FROM = 512
# A plain decimal number (after spaces are removed and a lone decimal comma made a point):
# in a column where some text is not a number, only these are cast as an array; the rest
# (1_000, inf, a word) goes through parse_number itself.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _texts(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """parse_text of many texts at once: stripped, a blank one is None. All are done."""
    typed = np.empty(len(texts), dtype=object)
    typed[:] = [text.strip() or None for text in texts]
    return typed, np.ones(len(texts), dtype=bool)


def _numbers(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """parse_number of many texts at once; ``done`` is False where parse_number must decide."""
    bare = [text.replace("\u00a0", "").replace(" ", "") for text in texts]
    bare = [b.replace(",", ".") if b.count(",") == 1 and "." not in b else b for b in bare]
    candidates = np.empty(len(bare), dtype=object)
    candidates[:] = bare
    try:
        # float() itself on each text (numpy's object-to-float cast calls it): the very same
        # value parse_number gives, to the last digit, so a payload's hash does not change.
        values = candidates.astype(float)
        plain = np.ones(len(bare), dtype=bool)
    except ValueError:  # a word among them: only the plain numbers here
        plain = np.fromiter(map(bool, map(_PLAIN_NUMBER.fullmatch, bare)), bool, len(bare))
        values = np.full(len(bare), np.nan)
        values[plain] = candidates[plain].astype(float)
    done = plain & np.isfinite(values)  # inf, nan, 1e999: parse_number says why
    typed = np.empty(len(bare), dtype=object)
    typed[done] = values[done].tolist()
    return typed, done


def parse_text(cell: Any) -> Parsed:
    if cell is None:
        return None, None
    if isinstance(cell, str):
        text = cell.strip()
        return (text or None), None
    if isinstance(cell, float):
        return (repr(int(cell)) if cell.is_integer() else repr(cell)), None
    if isinstance(cell, dt.datetime):
        return cell.strftime("%d/%m/%Y %H:%M"), None
    if isinstance(cell, dt.date):
        return cell.strftime("%d/%m/%Y"), None
    return str(cell), None


def parse_datetime(cell: Any) -> Parsed:
    """A naive local datetime, to the minute, from a date cell or an accepted string."""
    if cell is None:
        return None, None
    if isinstance(cell, dt.datetime):
        naive = cell.replace(tzinfo=None)
        return _to_minute(naive)
    if isinstance(cell, dt.date):
        # A date-time cell at exactly midnight reads as a plain date: not worth a warning.
        return _to_minute(dt.datetime(cell.year, cell.month, cell.day))
    if isinstance(cell, dt.time | dt.timedelta):
        return None, "time_without_date"
    if isinstance(cell, bool):
        return None, "date_format"
    if isinstance(cell, int | float):
        return None, "number_not_date"
    text = str(cell).strip()
    match = _DAY_FIRST.fullmatch(text) or _ISO.fullmatch(text)
    if match:
        parts = {k: int(v) for k, v in match.groupdict(default="0").items()}
        try:
            moment = dt.datetime(
                parts["y"], parts["m"], parts["d"], parts["H"], parts["M"], parts["S"]
            )
        except ValueError:
            return None, "impossible_date"
        return _to_minute(moment)
    date_only = _DAY_FIRST_DATE_ONLY.fullmatch(text) or _ISO_DATE_ONLY.fullmatch(text)
    if date_only:
        parts = {k: int(v) for k, v in date_only.groupdict().items()}
        try:
            moment = dt.datetime(parts["y"], parts["m"], parts["d"])
        except ValueError:
            return None, "impossible_date"
        value, kind = _to_minute(moment)
        return value, kind or "date_without_time"
    if _SHORT_YEAR.match(text):
        return None, "two_digit_year"
    return None, "date_format"


def _to_minute(moment: dt.datetime) -> Parsed:
    if moment.year not in PLAUSIBLE_YEARS:
        return None, "implausible_year"
    if moment.second or moment.microsecond:
        return moment.replace(second=0, microsecond=0), "seconds_dropped"
    return moment, None


def parse_number(cell: Any) -> Parsed:
    """A float from a number cell or text, decimal comma accepted."""
    if cell is None:
        return None, None
    if isinstance(cell, bool):
        return None, "not_a_number"
    if isinstance(cell, int | float):
        value = float(cell)
    else:
        text = str(cell).strip().replace("\u00a0", "").replace(" ", "")
        if text.count(",") == 1 and "." not in text:
            text = text.replace(",", ".")
        try:
            value = float(text)
        except ValueError:
            return None, "not_a_number"
    if not math.isfinite(value):
        return None, "not_a_number"
    return value, None


def parse_integer(cell: Any) -> Parsed:
    if cell is None:
        return None, None
    if isinstance(cell, bool):
        return None, "not_an_integer"
    if isinstance(cell, int):
        return cell, None
    if isinstance(cell, float):
        return (int(cell), None) if cell.is_integer() else (None, "not_an_integer")
    text = str(cell).strip()
    return (int(text), None) if text.isdigit() else (None, "not_an_integer")


def parse_postcode(cell: Any) -> Parsed:
    """Postcodes are text: a number that lost its leading zero (1000) gets it back (01000)."""
    if cell is None:
        return None, None
    if isinstance(cell, int) and not isinstance(cell, bool):
        text = str(cell)
    else:
        text, _ = parse_text(cell)
        if text is None:
            return None, None
    if text.isdigit() and len(text) == 4:
        return "0" + text, "postcode_zero_restored"
    return text, None


def parse_flag(cell: Any) -> Parsed:
    """aEnvoyer: true/false, vrai/faux, oui/non, yes/no, 1/0, x; blank is left to the default."""
    if cell is None:
        return None, None
    if isinstance(cell, bool):
        return cell, None
    if isinstance(cell, int | float):
        return (bool(cell), None) if cell in (0, 1) else (None, "flag_value")
    word = _plain(str(cell))
    if word in _TRUE_WORDS:
        return True, None
    if word in _FALSE_WORDS:
        return False, None
    return None, "flag_value"


def parse_action(cell: Any) -> Parsed:
    """The optional action column: blank, or delete / supprimer to cancel the mission."""
    if cell is None:
        return None, None
    word = _plain(str(cell))
    if not word:
        return None, None
    if word in _DELETE_WORDS:
        return "delete", None
    return None, "action_value"


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.strip().casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_VECTORISED: dict[
    Callable[[Any], Parsed], Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
] = {
    parse_text: _texts,
    parse_number: _numbers,
}
