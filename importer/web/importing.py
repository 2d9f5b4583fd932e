"""An upload's import, in a worker thread of the page: the reviewed plan applied, its
progress told to the page (``Jobs``), its result kept with the upload."""

from __future__ import annotations

from typing import Any

from importer.config import ImportOptions, Settings
from importer.errors import OceanImportError
from importer.i18n import speaking
from importer.pipeline import import_file, open_state
from importer.results import FAILURES, Outcome, OutcomeRecord
from importer.web import guards
from importer.web.jobs import Job, Jobs


def run_import(settings: Settings, state_path: str, jobs: Jobs, job: Job, lang: str) -> None:
    """Apply the reviewed plan (in a worker thread, in the user's language); the page polls
    ``job`` for progress."""
    with speaking(lang):
        _import(settings, state_path, jobs, job)


def _import(settings: Settings, state_path: str, jobs: Jobs, job: Job) -> None:
    def progress(total: int) -> tuple[Any, Any]:
        jobs.advance(job, total)

        def tick(_: OutcomeRecord) -> None:
            jobs.advance(job)

        return tick, lambda: None

    report = job.folder / f"{job.file.stem}.results.xlsx"
    result: dict[str, Any] = {}
    error = None
    try:
        with open_state(state_path) as state:
            run, written = import_file(
                job.file,
                settings,
                state,
                ImportOptions(
                    feed="",
                    feed_from_name=True,
                    allow_started=job.allow_started,
                    command="web",
                    actor=job.user,
                ),
                report_path=report,
                saved_plan=None if job.allow_started else job.folder / "plan.json",
                progress=progress,
                halt=jobs.halt,
                confirmed_deletions=job.confirmed_deletions,
            )
        summary = run.summary(written)
        lines = run.lines()
        result = {
            "run_id": summary.run_id,
            "exit_code": summary.exit_code,
            "stopped": summary.stopped,
            "report": str(written) if written else None,
            "outcomes": summary.outcomes,
            "actions": summary.actions,
            "failed": lines[lines["outcome"].isin(FAILURES)].to_dict(orient="records"),
            "held": lines[lines["outcome"] == Outcome.HELD].to_dict(orient="records"),
        }
    except OceanImportError as exc:
        error = str(exc)
    except Exception as exc:  # the job still ends, with a sentence, and the page stops waiting
        error = guards.unexpected(exc, "the import of an upload")
    finally:
        jobs.finish(job, result, error)
