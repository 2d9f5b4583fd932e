"""Header aliases: from a spreadsheet's header text to the API field it means."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources

ACTION_COLUMN = "action"
# A day and a time in two columns, combined into an API date field (validate).
SPLIT_DATE_FIELDS = {
    "jourHeureInter": ("dateInter", "heureInter"),
    "jourHeurePeremp": ("datePeremp", "heurePeremp"),
}
PLANNING_ONLY_FIELDS = (ACTION_COLUMN, *(f for pair in SPLIT_DATE_FIELDS.values() for f in pair))

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def normalise_header(text: object) -> str:
    """The comparison key of a header: lower case, no accents, no spaces or punctuation.

    >>> normalise_header("N° mission")
    'nmission'
    >>> normalise_header("  Date d'Intervention ")
    'datedintervention'
    """
    decomposed = unicodedata.normalize("NFKD", str(text).casefold())
    without_accents = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_ALNUM.sub("", without_accents)


# A header row names at least this many known columns, the mission id among them (a title
# row rarely does).
MIN_KNOWN_HEADERS = 2
# The header is looked for in this many first non-blank rows of a sheet.
HEADER_SEARCH_ROWS = 20
ID_FIELD = "idMission"


def known_fields(row: Iterable[object], aliases: Mapping[str, str]) -> set[str]:
    """The fields a row of cells names, as a header would."""
    names = (aliases.get(normalise_header(cell)) for cell in row if isinstance(cell, str))
    return {name for name in names if name}


def is_planning_header(row: Iterable[object], aliases: Mapping[str, str]) -> bool:
    fields = known_fields(row, aliases)
    return len(fields) >= MIN_KNOWN_HEADERS and ID_FIELD in fields


@cache
def builtin_aliases() -> dict[str, str]:
    """The shipped alias table (schemas/columns.toml) as {normalised header: field}."""
    text = resources.files("importer.schemas").joinpath("columns.toml").read_text("utf-8")
    table = tomllib.loads(text)
    aliases: dict[str, str] = {}
    for target, labels in table.items():
        for label in labels:
            key = normalise_header(label)
            if aliases.setdefault(key, target) != target:
                raise ValueError(f"alias {label!r} is given to two fields in columns.toml")
    return aliases


def alias_table(site_columns: Mapping[str, str] | None = None) -> dict[str, str]:
    """The shipped aliases plus a site's own ``[columns]`` table (the site's win)."""
    aliases = dict(builtin_aliases())
    for label, target in (site_columns or {}).items():
        aliases[normalise_header(label)] = target
    return aliases
