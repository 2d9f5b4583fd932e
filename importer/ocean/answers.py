"""How Ocean's answers are read, and how its failures are told: its messages are free text, in
French, and a 200 may say that the call failed ("Échec : véhicule inconnu"). Pure text
functions and the answers as the client hands them over (``Answer``, ``MissionStatus``), no
HTTP."""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from importer.i18n import _

# Ocean's messages are free text (French). These words, accents and case aside, mean the
# operation failed even when the HTTP status says 200. They are looked for as the start of a
# word, and only in what Ocean says about the call (see ``own_words``).
_NOT_FOUND = ("introuvable", "inexistant", "n'existe pas", "not found")
_EXISTS = ("existe deja", "already exist")
_FAILURE = (
    "echec", "erreur", "error", "fail", "impossible", "invalide", "invalid", "refus",
    *_NOT_FOUND, *_EXISTS,
)  # fmt: skip
_NOT_FOUND_WORDS, _EXISTS_WORDS, _FAILURE_WORDS = (
    re.compile(r"(?<![a-z0-9])(?:" + "|".join(map(re.escape, words)) + ")")
    for words in (_NOT_FOUND, _EXISTS, _FAILURE)
)
# A value Ocean quotes back: « TERREUR-02 », "…", “…”, '…' (an apostrophe inside a word, as in
# "l'enregistrement", does not open a quote).
_QUOTED = re.compile(r"«[^»]*»|\"[^\"]*\"|“[^”]*”|‘[^’]*’|(?<!\w)'[^']*'(?!\w)")


def reports_failure(message: str, id_mission: str) -> bool:
    """Whether Ocean's message says the call failed: "Échec : véhicule inconnu" does,
    "Mission « TERREUR-02 » créée avec succès" does not."""
    return _says(own_words(message, id_mission), _FAILURE_WORDS)


def own_words(message: str, id_mission: str) -> str:
    """What Ocean says about the call, matched plain: the values it quotes back and the
    mission id it echoes (quoted or not) are taken out, since an id such as
    ``PARIS-INVALIDES-01`` or ``ERREUR-2`` says nothing about the outcome."""
    said = _QUOTED.sub(" ", message).lower()
    if id_mission:  # a plain replace: a pattern per mission would be compiled per call
        said = said.replace(id_mission.lower(), " ")
    return plain(said)


def _says(plain: str, words: re.Pattern[str]) -> bool:
    return words.search(plain) is not None


def plain(text: str) -> str:
    """Lower case, no accents, straight apostrophes: how messages are matched."""
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("’", "'"))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def says_not_found(message: str, id_mission: str) -> bool:
    """Whether Ocean's message says the mission does not exist."""
    return _says(own_words(message, id_mission), _NOT_FOUND_WORDS)


def says_exists(message: str, id_mission: str) -> bool:
    """Whether Ocean's message says the mission exists already (to a create)."""
    return _says(own_words(message, id_mission), _EXISTS_WORDS)


def unavailable(operation: str) -> str:
    """The sentence for a call still failing after its retries ({id}, {attempts}, {why})."""
    return {
        "create": _("Ocean did not create mission {id} after {attempts} attempts: {why}"),
        "modify": _("Ocean did not modify mission {id} after {attempts} attempts: {why}"),
        "status": _("Ocean did not query mission {id} after {attempts} attempts: {why}"),
        "delete": _("Ocean did not delete mission {id} after {attempts} attempts: {why}"),
    }[operation]


def refused(operation: str) -> str:
    """The sentence for a change Ocean refused ({id}, {status}, {message})."""
    return {
        "create": _("Ocean refused to create mission {id} (HTTP {status}): {message}"),
        "modify": _("Ocean refused to modify mission {id} (HTTP {status}): {message}"),
        "status": _("Ocean refused to query mission {id} (HTTP {status}): {message}"),
        "delete": _("Ocean refused to delete mission {id} (HTTP {status}): {message}"),
    }[operation]


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (a number or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


@dataclass(frozen=True)
class Answer:
    """A change Ocean confirmed."""

    operation: str
    id_mission: str
    http_status: int
    message: str  # Ocean's message, verbatim
    attempts: int


@dataclass(frozen=True)
class MissionStatus:
    """Where a mission stands in Ocean (all strings, as Ocean sends them)."""

    id_mission: str
    status: str
    status_code: str
    complement: str
    refuse_reason: str
    external_id: str
    time: str
    attempts: int

    @property
    def refused(self) -> bool:
        return bool(self.refuse_reason) or "refus" in plain(self.status)

    def describe(self) -> str:
        """One line for a workbook cell: the status, and the reason of a refusal."""
        text = self.status or self.status_code or "?"
        if self.refuse_reason:
            text += f": {self.refuse_reason}"
        return text + (f" ({self.time})" if self.time else "")
