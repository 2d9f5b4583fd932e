"""Which language a text speaks: the sentences of the other language found in it.

Two nets, so that a sentence slips through neither:
- the catalog's own sentences: every run of three words or more of a message (between its
  placeholders) that the other language words differently; a message shown untranslated in
  French, or a French one shown in English, is caught whatever it is;
- for French, English function words ("the", "must", "every"...) outside paths, options and
  code names: a sentence written straight into the code, never put in the catalog, is caught.
Ocean's own messages stay verbatim: they are French, and neither net takes them for English.
"""

from __future__ import annotations

import re
from functools import cache

from babel.messages.pofile import read_po

from importer.i18n import LOCALE_DIR

_PLACEHOLDER = re.compile(r"\{[^}]*\}|%\(\w+\)[sdr]|%[-.\d]*[sdrf]|\[/?[a-z ]*\]")
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " "})

# Words that no French sentence of ours holds, and English ones always do.
ENGLISH_WORDS = frozenset(
    [
        "the",
        "is",
        "are",
        "was",
        "were",
        "must",
        "cannot",
        "can't",
        "every",
        "should",
        "would",
        "with",
        "this",
        "that",
        "from",
        "into",
        "and",
        "not",
        "of",
        "to",
        "row",
        "rows",
        "file",
        "files",
        "missing",
        "warning",
        "warnings",
        "error",
        "errors",
        "sheet",
        "column",
        "value",
        "values",
        "create",
        "modify",
        "delete",
        "unchanged",
        "failed",
        "skipped",
        "stopped",
        "already",
        "which",
        "when",
        "there",
        "here",
        "has",
        "have",
        "been",
        "its",
        "only",
        "more",
        "than",
        "none",
        "would",
        "yet",
        "at",
        "one",
        "time",
        "default",
        "by",
        "for",
        "it",
        "be",
        "if",
    ]
)
# Outside the sentences: paths, addresses, options, `code`, names with _ . - / or inner
# capitals, and anything with a digit in it.
_NOT_WORDS = re.compile(
    r"https?://\S+|\S*[/\\]\S*|`[^`]*`|--?[a-z][\w-]*|\S*[_.@=|]\S*|\b\w*[a-z][A-Z]\w*\b"
    r"|\S*\d\S*"  # a token with a digit: an id, a time, a digest
)


def _fragments(message: str) -> set[str]:
    pieces = (" ".join(piece.translate(_SPACES).split()) for piece in _PLACEHOLDER.split(message))
    return {piece.strip(" :;,.()«»“”'") for piece in pieces if len(piece.split()) >= 3}


@cache
def catalog_fragments() -> dict[str, frozenset[str]]:
    """Per language, the runs of words of the catalog's messages that only it says."""
    with (LOCALE_DIR / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as source:
        catalog = read_po(source, locale="fr")
    english: set[str] = set()
    french: set[str] = set()
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        said_in_english = set().union(*map(_fragments, ids))
        said_in_french = set().union(*map(_fragments, strings))
        english |= said_in_english - said_in_french
        french |= said_in_french - said_in_english
    return {"en": frozenset(english), "fr": frozenset(french)}


def foreign_sentences(text: str, language: str) -> list[str]:
    """What in ``text`` is said in the language other than ``language`` (``[]``: nothing)."""
    flat = " ".join(text.translate(_SPACES).split())
    other = "en" if language == "fr" else "fr"
    found = sorted(fragment for fragment in catalog_fragments()[other] if fragment in flat)
    if language == "fr":
        words = re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)*", _NOT_WORDS.sub(" ", flat))
        found += sorted({word for word in words if word.lower() in ENGLISH_WORDS})
    return found
