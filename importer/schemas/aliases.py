"""Header aliases: from a spreadsheet's header text to the API field it means."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Mapping
from functools import cache
from importlib import resources

ACTION_COLUMN = "action"

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
