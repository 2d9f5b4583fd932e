"""The words of the workbooks' added columns and of the summaries, in the reader's language:
the values stay codes (``create``, ``ok``) everywhere a machine reads them."""

from __future__ import annotations

from importer.i18n import _, ngettext, number, pgettext


def vocabulary() -> dict[str, dict[str, str]]:
    """The words of the added columns (the code's values are the same in every language)."""
    return {
        "action": {
            "create": pgettext("action", "create"),
            "modify": pgettext("action", "modify"),
            "unchanged": pgettext("action", "unchanged"),
            "delete": pgettext("action", "delete"),
            "invalid": pgettext("action", "invalid"),
            "kept": pgettext("action", "kept"),
            "expired": pgettext("action", "expired"),
            "ignored": pgettext("action", "ignored"),
        },
        "outcome": {
            "ok": pgettext("outcome", "ok"),
            "failed": pgettext("outcome", "failed"),
            "unknown": pgettext("outcome", "unknown"),
            "skipped": pgettext("outcome", "skipped"),
            "not_attempted": pgettext("outcome", "not_attempted"),
            "held": pgettext("outcome", "held"),
        },
        "verdict": {
            "valid": pgettext("verdict", "valid"),
            "warning": pgettext("verdict", "warning"),
            "invalid": pgettext("verdict", "invalid"),
            "ignored": pgettext("verdict", "ignored"),
        },
        "severity": {
            "error": pgettext("severity", "error"),
            "warning": pgettext("severity", "warning"),
        },
    }


def words(column: str, value: str) -> str:
    """The word a workbook shows for ``value`` in ``column`` (action, outcome, verdict...)."""
    return vocabulary().get(column, {}).get(value, value)


def zone_words(zone: str, given: bool) -> str:
    """The time zone the planning's times were read in, said where a person looks: every
    summary names it, and says when it is the default rather than the configuration's."""
    if given:
        return _("times in {zone}").format(zone=zone)
    return _(
        "times in {zone}, the default zone (timezone in the configuration for another)"
    ).format(zone=zone)


def counted(column: str, value: str, n: int) -> str:
    """``3 create``, ``1 failed`` (``3 créations``, ``1 échec``): a count of actions or outcomes."""
    forms = {
        ("action", "create"): ngettext("{n} create", "{n} create", n),
        ("action", "modify"): ngettext("{n} modify", "{n} modify", n),
        ("action", "unchanged"): ngettext("{n} unchanged", "{n} unchanged", n),
        ("action", "delete"): ngettext("{n} delete", "{n} delete", n),
        ("action", "invalid"): ngettext("{n} invalid", "{n} invalid", n),
        ("action", "kept"): ngettext("{n} kept", "{n} kept", n),
        ("action", "expired"): ngettext("{n} expired", "{n} expired", n),
        ("outcome", "ok"): ngettext("{n} ok", "{n} ok", n),
        ("outcome", "failed"): ngettext("{n} failed", "{n} failed", n),
        ("outcome", "unknown"): ngettext("{n} unknown", "{n} unknown", n),
        ("outcome", "skipped"): ngettext("{n} skipped", "{n} skipped", n),
        ("outcome", "not_attempted"): ngettext("{n} not_attempted", "{n} not_attempted", n),
        ("outcome", "held"): ngettext("{n} held", "{n} held", n),
    }
    return forms.get((column, value), f"{{n}} {value}").format(n=number(n))
