"""Turning spreadsheet cells into typed values.

Each parser takes one cell as read (None, str, int, float, bool, datetime, date, time) and
returns ``(value, kind)``: the typed value, and the kind of problem found (None when clean).
Problem kinds are described in ``importer.problems.KINDS``. Parsers are pure, so a column is
parsed once per distinct value (``parse_column``): a planning repeats the same dates, vehicles
and flags many times.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Callable
from operator import methodcaller
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

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

# Characters a person cannot see in a cell: removed (zero-width spaces and joiners, a byte
# order mark, a soft hyphen), or read as the plain space they look like (no-break spaces, a
# tab, a line break inside a name): « VL 12 » typed two ways is one vehicle, one mission.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_SPACE_LIKE = dict.fromkeys(map(ord, "\u00a0\u202f\u2007\u2009\u200a\u3000\t"), " ")
_IN_TEXT = str.maketrans({**_INVISIBLE, **_SPACE_LIKE})
_IN_NAME = str.maketrans({**_INVISIBLE, **_SPACE_LIKE, **dict.fromkeys(map(ord, "\r\n\v\f"), " ")})
_SPACES = re.compile(r"  +")

_TRUE_WORDS = frozenset({"true", "vrai", "oui", "yes", "1", "x", "o", "y"})
_FALSE_WORDS = frozenset({"false", "faux", "non", "no", "0", "n"})
_DELETE_WORDS = frozenset({"delete", "supprimer", "suppression", "supprime", "suppr"})


class Factorised:
    """A column as codes into its distinct values, found once when the file is read: the
    cells are typed once per distinct value, come back from the reading child as two arrays
    (a tenth of the time of the cells one by one), and are parsed once per distinct value by
    the validation (``parse_column``). ``uniques[codes]`` is the column; a blank cell's code
    points at a None among the uniques."""

    __slots__ = ("codes", "uniques")

    def __init__(self, codes: np.ndarray, uniques: np.ndarray) -> None:
        self.codes = codes  # intp, one per row
        self.uniques = uniques  # object

    def values(self) -> np.ndarray:
        return self.uniques[self.codes]

    def of_rows(self, rows: np.ndarray | slice) -> Factorised:
        """The same column for some of its rows, with only the values those rows use."""
        codes = self.codes[rows]
        used = np.flatnonzero(np.bincount(codes, minlength=len(self.uniques)))
        renumbered = np.zeros(len(self.uniques), dtype=np.intp)
        renumbered[used] = np.arange(len(used))
        return Factorised(renumbered[codes], self.uniques[used])

    def __getstate__(self) -> tuple[np.ndarray, list[Any]]:
        return self.codes, self.uniques.tolist()  # a list pickles far faster than its array

    def __setstate__(self, state: tuple[np.ndarray, list[Any]]) -> None:
        self.codes = state[0]
        self.uniques = objects(state[1])


def factorise(cells: np.ndarray) -> Factorised:
    """Codes and distinct values of a column of cells as read. A hash table would merge values
    equal across types (True == 1 == 1.0) and take NaN for a blank: such a rare column keeps
    every cell as its own value."""
    numeric_kinds = 0
    if infer_dtype(cells, skipna=True) not in _OF_ONE_KIND:  # in C: a tenth of the types' set
        numeric_kinds = sum(issubclass(t, (int, float, np.number)) for t in set(map(type, cells)))
    codes, uniques = pd.factorize(cells, use_na_sentinel=True)
    missing = codes < 0
    not_none = missing.any() and bool((cells[missing] != None).any())  # noqa: E711 (elementwise)
    if numeric_kinds > 1 or not_none:
        return Factorised(np.arange(len(cells), dtype=np.intp), cells.astype(object))
    blank = len(uniques)  # code -1: the None appended
    return Factorised(np.where(missing, blank, codes).astype(np.intp), objects([*uniques, None]))


# What pandas says of a column whose cells (blanks aside) are all texts, or all floats...: no
# two of its values of different types can be merged.
_OF_ONE_KIND = frozenset({"string", "floating", "boolean", "datetime", "date", "empty"})


def objects(values: Any) -> np.ndarray:
    array = np.empty(len(values), dtype=object)  # no type inference, unlike np.array
    array[:] = values
    return array


def typed_as_read(cells: np.ndarray) -> np.ndarray:
    """Cells as a reader gives them, typed: blank texts to None, whole floats to int (calamine
    reads every number as a float: an id 12345 is not 12345.0), the others as they are; in
    passes over the whole array at C speed."""
    cells = cells.copy()
    types = np.fromiter(map(type, cells), dtype=object, count=len(cells))
    texts = np.flatnonzero(types == str)  # noqa: E721 (elementwise, on an object array of types)
    if len(texts):
        # Empty, or only spaces (what str.strip removes).
        blank = (cells[texts] == "") | np.fromiter(map(str.isspace, cells[texts]), bool, len(texts))
        cells[texts[blank]] = None
    floats = np.flatnonzero(types == float)  # noqa: E721
    if len(floats):
        values = cells[floats].astype(float)
        whole = np.isfinite(values) & (values == np.trunc(values))
        exact = whole & (np.abs(values) < 2.0**53)  # within int64, and every such float exact
        cells[floats[exact]] = values[exact].astype(np.int64).tolist()
        huge = np.flatnonzero(whole & ~exact)
        cells[floats[huge]] = [int(value) for value in values[huge]]
    return cells


def parse_column(
    values: pd.Series, parser: Callable[[Any], Parsed], factorised: Factorised | None = None
) -> tuple[pd.Series, pd.Series]:
    """Apply ``parser`` to every cell of a column; the typed values and the problem kinds.

    Each distinct value is parsed once (``factorised``: the column's own, found when it was
    read, else found here); where the distinct values are many (ids, coordinates), the texts
    a parser has a vectorised form for are parsed as one array, and only the rest (other
    cells, and the texts that fail) go through the parser one by one, so that a problem keeps
    exactly the parser's kind.
    """
    if factorised is None:
        factorised = factorise(values.to_numpy(dtype=object))
    codes, uniques = factorised.codes, factorised.uniques
    typed = np.empty(len(uniques), dtype=object)
    kinds = np.empty(len(uniques), dtype=object)
    pending = np.ones(len(uniques), dtype=bool)
    vectorised = _VECTORISED.get(parser)
    if vectorised is not None and len(uniques) >= _VECTORISE_FROM:
        types = np.fromiter(map(type, uniques), dtype=object, count=len(uniques))
        parsed, done = vectorised(uniques, types)
        typed[done] = parsed[done]
        pending[done] = False
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


def clean_text(text: str) -> str:
    """A text as a person reads it: invisible characters removed, no-break spaces and tabs
    made plain spaces, composed accents (NFC: « é » typed or pasted is one letter), trimmed.
    Line breaks are kept (a comment may have several lines)."""
    text = text.translate(_IN_TEXT)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return text.strip()


def clean_name(text: str) -> str:
    """``clean_text`` for a name or an id: also on one line, with single spaces, so that the
    diff, the state and Ocean see one value however it was typed."""
    text = text.translate(_IN_NAME)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    if "  " in text:
        text = _SPACES.sub(" ", text)
    return text.strip()


def _texts(
    uniques: np.ndarray, types: np.ndarray, clean: Callable[[str], str] = clean_text
) -> tuple[np.ndarray, np.ndarray]:
    """parse_text of the texts among ``uniques`` at once: cleaned, a blank one is None; one
    longer than a cell holds, and every other cell, is left to parse_text (``done`` False)."""
    typed, done = np.empty(len(uniques), dtype=object), np.zeros(len(uniques), dtype=bool)
    texts = np.flatnonzero(types == str)  # noqa: E721 (elementwise, on an object array of types)
    cleaned = _cleaned_all(uniques[texts], clean)
    cleaned[cleaned == ""] = None
    typed[texts] = cleaned
    done[texts] = np.fromiter(map(len, uniques[texts]), np.int64, len(texts)) <= MAX_CELL_CHARS
    return typed, done


def _cleaned_all(texts: np.ndarray, clean: Callable[[str], str]) -> np.ndarray:
    """``clean`` of each text, done on all of them joined into one string (a few C passes
    instead of a Python call per text), where a separator cannot be mistaken for a cell's."""
    joined = _SEPARATOR.join(texts.tolist())
    if joined.count(_SEPARATOR) != len(texts) - 1:  # a cell holds the separator: one by one
        return np.fromiter(map(clean, texts), dtype=object, count=len(texts))
    table, collapse = (_IN_NAME, True) if clean is clean_name else (_IN_TEXT, False)
    joined = joined.translate(table)
    if not joined.isascii():
        joined = unicodedata.normalize("NFC", joined)
    if collapse and "  " in joined:
        joined = _SPACES.sub(" ", joined)
    pieces = joined.split(_SEPARATOR)
    return np.fromiter(map(str.strip, pieces), dtype=object, count=len(pieces))


# Between texts joined for ``_cleaned_all``: a character no typed cell holds, and that no
# cleaning step changes (not a space, not a mark that NFC could compose with).
_SEPARATOR = "\x1f"


def _names(uniques: np.ndarray, types: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _texts(uniques, types, clean_name)


def _numbers(uniques: np.ndarray, types: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """parse_number of the texts and number cells among ``uniques`` at once; ``done`` is False
    where parse_number must decide (other cells, and what is not a plain finite number)."""
    typed, done = np.empty(len(uniques), dtype=object), np.zeros(len(uniques), dtype=bool)
    texts = np.flatnonzero(types == str)  # noqa: E721 (elementwise, on an object array of types)
    typed[texts], done[texts] = _number_texts(uniques[texts])
    # Number cells (a workbook's coordinates): float() of each, as parse_number does.
    numbers = np.flatnonzero((types == float) | (types == int))  # noqa: E721
    cast = uniques[numbers].astype(float)
    finite = np.isfinite(cast)  # inf, nan: parse_number says why
    typed[numbers[finite]] = cast[finite].tolist()
    done[numbers[finite]] = True
    return typed, done


def _number_texts(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """parse_number of many texts at once; ``done`` is False where parse_number must decide."""
    # Each step one C-level map over the texts (no Python frame per text).
    n = len(texts)
    spaced = map(methodcaller("replace", "\u00a0", ""), texts)
    bare = np.fromiter(map(methodcaller("replace", " ", ""), spaced), dtype=object, count=n)
    one_comma = np.fromiter(map(methodcaller("count", ","), bare), dtype=np.int64, count=n) == 1
    no_point = np.fromiter(map(methodcaller("find", "."), bare), dtype=np.int64, count=n) < 0
    decimal_comma = np.flatnonzero(one_comma & no_point)
    bare[decimal_comma] = list(map(methodcaller("replace", ",", "."), bare[decimal_comma]))
    try:
        # float() itself on each text (numpy's object-to-float cast calls it): the very same
        # value parse_number gives, to the last digit, so a payload's hash does not change.
        values = bare.astype(float)
        plain = np.ones(n, dtype=bool)
    except ValueError:  # a word among them: only the plain numbers here
        plain = np.fromiter(map(bool, map(_PLAIN_NUMBER.fullmatch, bare)), bool, n)
        values = np.full(n, np.nan)
        values[plain] = bare[plain].astype(float)
    done = plain & np.isfinite(values)  # inf, nan, 1e999: parse_number says why
    typed = np.empty(n, dtype=object)
    typed[done] = values[done].tolist()
    return typed, done


def parse_text(cell: Any, clean: Callable[[str], str] = clean_text) -> Parsed:
    if cell is None:
        return None, None
    if isinstance(cell, str):
        text = clean(cell)
        # Kept whole (nothing is cut without a word), and an error on its row.
        return (text or None), ("text_too_long" if len(text) > MAX_CELL_CHARS else None)
    if isinstance(cell, float):
        return (repr(int(cell)) if cell.is_integer() else repr(cell)), None
    if isinstance(cell, dt.datetime):
        return cell.strftime("%d/%m/%Y %H:%M"), None
    if isinstance(cell, dt.date):
        return cell.strftime("%d/%m/%Y"), None
    return str(cell), None


def parse_name(cell: Any) -> Parsed:
    """An id or a name (a vehicle, a person, a site): ``parse_text`` on one line."""
    return parse_text(cell, clean_name)


def parse_datetime(cell: Any) -> Parsed:
    """A naive local datetime, to the minute, from a date cell or an accepted string."""
    if cell is None:
        return None, None
    if isinstance(cell, dt.datetime):
        naive = cell.replace(tzinfo=None)
        return _to_minute(naive)
    if isinstance(cell, dt.date):
        # The readers give a plain date for any date cell at midnight, whatever its format:
        # a date with no time goes out at 00:00, which is never silent.
        value, kind = _to_minute(dt.datetime(cell.year, cell.month, cell.day))
        return value, kind or "date_without_time"
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


# A time of day as dispatchers type it: 8h30, 08:30, 8:30:00, 8h, 830, 0830, 8 h 30.
_TIME_OF_DAY = re.compile(
    r"(?P<H>\d{1,2})(?: ?[:hH.] ?(?P<M>\d{2})?(?::(?P<S>\d{2}))?)?|(?P<HH>\d{1,2})(?P<MM>\d{2})"
)


_TIME_SLOT = re.compile(r"(?P<start>[^-–àa/]+?) *(?:-|–|à|a|/) *(?P<end>[^-–àa/]+)")


def parse_time_of_day(cell: Any) -> Parsed:
    """A time of day (``dt.time``, to the minute) from a time cell, a duration under a day, a
    fraction of a day (an unformatted Excel time), or a text such as 8h30, 08:30, 830, 8h."""
    if cell is None:
        return None, None
    if isinstance(cell, dt.datetime):  # a time cell some writers date 30/12/1899
        return _to_time(cell.hour, cell.minute, cell.second)
    if isinstance(cell, dt.time):
        return _to_time(cell.hour, cell.minute, cell.second)
    if isinstance(cell, dt.timedelta):
        seconds = int(cell.total_seconds())
        if not 0 <= seconds < 86_400:
            return None, "time_format"
        return _to_time(seconds // 3600, seconds // 60 % 60, seconds % 60)
    if isinstance(cell, bool | dt.date):
        return None, "time_format"
    if isinstance(cell, int | float):
        if isinstance(cell, float) and 0 <= cell < 1:
            seconds = round(cell * 86_400)
            return _to_time(seconds // 3600, seconds // 60 % 60, seconds % 60)
        if isinstance(cell, int) and 0 <= cell < 24:  # 8 typed as a number: 8h
            return _to_time(cell, 0, 0)
        if isinstance(cell, int) and 0 <= cell < 2400:  # 830 typed as a number
            return _to_time(cell // 100, cell % 100, 0)
        return None, "time_format"
    text = clean_text(str(cell))
    match = _TIME_OF_DAY.fullmatch(text)
    kind = None
    if not match and (slot := _TIME_SLOT.fullmatch(text)):
        # A slot (8h-10h, 8h30 à 9h): the mission is due at its start, and the row says so.
        match, kind = _TIME_OF_DAY.fullmatch(slot["start"]), "time_slot_start"
    if not match:
        return None, "time_format"
    hour = int(match["H"] or match["HH"])
    minute = int(match["M"] or match["MM"] or 0)
    value, problem = _to_time(hour, minute, int(match["S"] or 0))
    return value, problem or (kind if value is not None else None)


def _to_time(hour: int, minute: int, second: int) -> Parsed:
    if not (0 <= hour < 24 and 0 <= minute < 60 and 0 <= second < 60):
        return None, "time_format"
    return dt.time(hour, minute), ("seconds_dropped" if second else None)


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
    Callable[[Any], Parsed], Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
] = {
    parse_text: _texts,
    parse_name: _names,
    parse_number: _numbers,
}
