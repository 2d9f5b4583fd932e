"""Tell the operator when the job needs a person: Apprise (e-mail, Teams, Slack, ntfy,
webhooks...), from the URLs of ``[alerts] urls`` / ``OCEAN_IMPORT_ALERTS``.

An alert fires on a change of state, not on every run: once when a subject starts failing
(a feed's runs, a feed's file late, the Ocean password about to expire, a mission refused),
once when it recovers. What was last said of each subject is kept in the state store, so
that every host of a site agrees, and only once it was sent (a failed send is tried again by
the next run). An alert carries the file, the counts and the first problems, never a secret
(the Ocean password and the alert URLs are never in it), and failing to send one never fails
an import: it is logged, without the URLs (they may hold a password).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from importer.config import Settings
from importer.i18n import _

if TYPE_CHECKING:
    from importer.store import Store

log = logging.getLogger(__name__)

FAILING, FINE = "failing", "ok"


class Alerts:
    """The alerts of one site; silent when it has no URL."""

    def __init__(self, settings: Settings, state: Store) -> None:
        self.settings, self.state = settings, state

    def track(self, subject: str, failing: bool, what: str, body: str) -> bool:
        """Say that ``what`` needs a person when ``subject`` starts failing, and that it is
        back to normal when it stops; nothing when its state did not change (nor for a
        subject fine from the start)."""
        if not self.settings.alerts:
            return False
        before = self.state.remembered(f"alert {subject}")
        now = FAILING if failing else FINE
        if before == now or (before is None and not failing):
            return False
        title = (_("{what}: needs a person") if failing else _("{what}: back to normal")).format(
            what=what
        )
        sent = self._send(title, body)
        if sent:
            self.state.remember(f"alert {subject}", now)
        return sent

    def _send(self, title: str, body: str) -> bool:
        import apprise  # only a site with alerts pays its import

        notifier = apprise.Apprise()
        for url in self.settings.alerts:
            if not notifier.add(url):
                said = _("an alert URL is not understood by Apprise (not shown: it may hold a "
                         "password)")  # fmt: skip
                log.warning(said, extra={"event": "alert_url_refused"})
        try:
            sent = bool(notifier.notify(title=f"ocean-import: {title}", body=body))
        except Exception as exc:  # an alert must never fail the import
            log.warning(_("an alert could not be sent ({kind})").format(kind=type(exc).__name__),
                        extra={"event": "alert_failed"})  # fmt: skip
            return False
        if not sent:
            log.warning(_("an alert could not be sent to every receiver: tried again next run"),
                        extra={"event": "alert_failed"})  # fmt: skip
        return sent


def run_alert(feed: str, file: str, exit_code: int, why: str, counts: dict[str, int]) -> str:
    """The body of a feed's alert: the file, how it ended, the counts, the first problems."""
    lines = [_("file: {file}").format(file=file), _("exit code: {code}").format(code=exit_code)]
    if why:
        lines.append(_("why: {why}").format(why=why[:2000]))
    if counts:
        lines.append(", ".join(f"{name}: {n}" for name, n in sorted(counts.items())))
    return "\n".join(lines)


def check_deadlines(
    settings: Settings, state: Store, alerts: Alerts, clock: Callable[[], float]
) -> None:
    """The dead-man alert: a feed whose file has not come by its ``expected_by`` (in the
    planning's zone) today; and its recovery once a run of it has come."""
    zone = settings.zone
    now = dt.datetime.fromtimestamp(clock(), zone)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)
    runs = state.runs(500)
    for feed, expected in sorted(settings.feed_deadlines.items()):
        deadline = dt.datetime.combine(now.date(), dt.time.fromisoformat(expected), zone)
        came = any(run.feed == feed and not run.dry_run and run.command != "undo"
                   and dt.datetime.fromisoformat(run.started_at) >= midnight
                   for run in runs)  # fmt: skip
        if now < deadline and not came:
            continue  # not late yet
        title = _("the file of the feed {feed}, expected by {time}").format(
            feed=feed, time=expected
        )
        body = _("no run of the feed {feed} since {day} 00:00 ({zone})").format(
            feed=feed, day=now.date().isoformat(), zone=zone
        )
        alerts.track(f"late {feed} {now.date().isoformat()}", not came, title, body)
