"""The web page's uploads and their imports, kept on disk so that they outlive the process.

One folder per upload under the page's work folder: the file, its saved plan, its results
workbook, and ``job.json`` (who, which file, how far the import went, what it ended with),
written at each step. A restart reads them back: the history keeps its download links, an
unconfirmed upload can still be reviewed and confirmed, and an import the stop cut short is
told as stopped (what it did is in the state and in its workbook), never "en cours" forever.
Folders older than the retention (``[web] retention_days``) are removed at start.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from importer.web.guards import safe_name

RECORD = "job.json"


@dataclass
class Job:
    """One upload: its file, its plan, and (once confirmed) the import's progress."""

    id: str
    user: str
    folder: Path
    file: Path
    total: int = 0  # 0: not confirmed; -1: started; else the calls to make
    done: int = 0
    finished: bool = False
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    allow_started: bool = False  # "apply anyway" to the missions a driver has in hand
    created: float = field(default_factory=time.time)
    refused: str | None = None  # why the upload cannot be imported at all
    confirmed_deletions: int | None = None  # typed by an admin past the mass-delete guard
    sheet: str | None = None  # the sheet the person chose (None: the one the reader found)
    review: Any = field(default=None, repr=False)  # its ImportRun, in memory only

    @property
    def started(self) -> bool:
        return self.total != 0 or self.finished


class Jobs:
    """The uploads of this page, shared by the handlers and the import threads."""

    def __init__(self, work: Path, *, retention_days: float, interrupted: str) -> None:
        """Read back the uploads kept in ``work`` (``interrupted``: what a job cut short by
        the last stop says), after removing those older than ``retention_days``."""
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self.halt = (
            threading.Event()
        )  # set when the page stops: imports stop after the calls in flight
        self._threads: list[threading.Thread] = []
        oldest = time.time() - retention_days * 86400
        for record in sorted(work.glob(f"*/{RECORD}")):
            job = _load(record)
            if job is None:
                continue
            if job.created < oldest:
                shutil.rmtree(record.parent, ignore_errors=True)
                continue
            if job.started and not job.finished:
                job.finished, job.error = True, interrupted
                _save(job)
            self._jobs[job.id] = job

    def add(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.id] = job
            _save(job)

    def of(self, job_id: str, user: str | None, *, admin: bool = False) -> Job | None:
        """The upload, if it is this user's (an admin's: anyone's)."""
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and user and (admin or job.user == user) else None

    def start(self, job: Job, work: Any) -> bool:
        """Confirm the upload and run ``work`` in a thread of its own; False when it was
        already confirmed (a second click, a refresh)."""
        with self._lock:
            if job.started:
                return False
            job.total = -1
            _save(job)
            thread = threading.Thread(target=work, daemon=True)
            self._threads = [*(t for t in self._threads if t.is_alive()), thread]
        thread.start()
        return True

    def advance(self, job: Job, total: int | None = None) -> None:
        with self._lock:
            if total is None:
                job.done += 1
            else:
                job.total = total

    def finish(self, job: Job, result: dict[str, Any], error: str | None) -> None:
        with self._lock:
            job.result, job.error, job.finished = result, error, True
            _save(job)

    def stop(self, seconds: float = 60) -> None:
        """The page stops: every import ends after its calls in flight, workbook written."""
        self.halt.set()
        for thread in list(self._threads):
            thread.join(seconds)

    def reports(self) -> dict[int, tuple[str, str]]:
        """The run id of each finished upload, with the upload's id (its download link) and
        its user (who may download it, besides an admin)."""
        with self._lock:
            return {job.result["run_id"]: (job.id, job.user) for job in self._jobs.values()
                    if job.finished and job.result.get("run_id") is not None}  # fmt: skip


def new_job(work: Path, user: str, filename: str, data: bytes, **options: Any) -> Job:
    """An upload's own folder under ``work``, with the file in it (under a safe name)."""
    job_id = secrets.token_urlsafe(12)
    folder = work / job_id
    job = Job(job_id, user, folder, folder / safe_name(filename), **options)
    folder.mkdir(parents=True)
    job.file.write_bytes(data)
    return job


def _save(job: Job) -> None:
    record = asdict(job) | {"folder": str(job.folder), "file": str(job.file), "review": None}
    target = job.folder / RECORD
    temporary = target.with_name(f".{RECORD}.{os.getpid()}")
    temporary.write_text(json.dumps(record, default=str), encoding="utf-8")
    os.replace(temporary, target)


def _load(record: Path) -> Job | None:
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        known = {f.name for f in fields(Job)}
        job = Job(**{k: v for k, v in data.items() if k in known})
    except (OSError, ValueError, TypeError):
        return None  # a record half written by a process killed meanwhile: left alone
    job.folder, job.file = Path(job.folder), Path(job.file)
    return job
