"""The job queue: every job's state in one SQLite file, shared by the web process and the worker processes.

Each thread (and each process) opens its own connection; the database runs in WAL mode, so readers never
wait for the worker writing progress. A job is claimed by a single ``UPDATE ... RETURNING`` that takes the
oldest queued job (FIFO by arrival) and stamps it with a random claim; a worker's later writes name that
claim, so a worker whose job was requeued or deleted meanwhile learns it (its write changes no row) and
stops, and can never overwrite the job's new state.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from ctangel.errors import ConfigError

JobStatus = Literal["queued", "running", "done", "failed"]

#: Arrival times of successive jobs differ by at least this, seconds (a clock stepping back cannot reorder them).
MIN_TIME_STEP_S: Final = 1e-6
#: Milliseconds a connection waits for another's write lock before giving up.
BUSY_TIMEOUT_MS: Final = 30_000

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    filename TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    progress REAL NOT NULL DEFAULT 0,
    error TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    claim TEXT,
    worker_pid INTEGER,
    n_files INTEGER NOT NULL DEFAULT 0,
    size_bytes INTEGER NOT NULL DEFAULT 0,
    n_studies INTEGER NOT NULL DEFAULT 0,
    n_slices INTEGER NOT NULL DEFAULT 0,
    warnings TEXT NOT NULL DEFAULT '[]',
    summary TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status_seq ON jobs (status, seq);
"""

_REQUEUE: Final = "UPDATE jobs SET status = 'queued', progress = 0, claim = NULL, worker_pid = NULL"
_COLUMNS: Final = (
    "seq, id, filename, status, progress, error, created_at, started_at, finished_at, attempts, worker_pid, "
    "n_files, size_bytes, n_studies, n_slices, warnings, summary"
)


@dataclass
class JobRecord:
    """One job as the store holds it. Times are seconds since the epoch.

    Args:
        id: the job's id (32 hex digits).
        filename: the uploaded file's name (the first file's, for an upload of several).
        status: ``queued``, ``running``, ``done`` or ``failed``.
        progress: 0..1.
        error: why the job failed (None unless failed).
        created_at: when the upload was accepted (the queue's order).
        started_at: when a worker last took it.
        finished_at: when it ended.
        attempts: how many times a worker took it.
        n_files: files in the upload (in the zip, for a zip).
        size_bytes: bytes uploaded.
        n_studies: studies found at upload.
        n_slices: slices found at upload.
        warnings: inputs of the upload that could not be used (the others were analysed).
        summary: counts of the finished analysis (patients, positive patients, studies, slices, positives).
        seq: the arrival number (ties of ``created_at`` broken by it).
        worker_pid: the process running it, while running.
    """

    id: str
    filename: str
    status: JobStatus
    progress: float = 0.0
    error: str | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    n_files: int = 0
    size_bytes: int = 0
    n_studies: int = 0
    n_slices: int = 0
    warnings: list[str] = field(default_factory=list)
    summary: dict[str, int] | None = None
    seq: int = 0
    worker_pid: int | None = None

    @classmethod
    def _from_row(cls, row: sqlite3.Row) -> JobRecord:
        return cls(
            id=row["id"],
            filename=row["filename"],
            status=row["status"],
            progress=row["progress"],
            error=row["error"],
            created_at=row["created_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            attempts=row["attempts"],
            n_files=row["n_files"],
            size_bytes=row["size_bytes"],
            n_studies=row["n_studies"],
            n_slices=row["n_slices"],
            warnings=json.loads(row["warnings"]),
            summary=None if row["summary"] is None else json.loads(row["summary"]),
            seq=row["seq"],
            worker_pid=row["worker_pid"],
        )


class JobStore:
    """The jobs table of one SQLite file; safe to use from many threads and processes.

    Args:
        path: the database file (created with its table on first use).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                conn.executescript(_SCHEMA)
            except sqlite3.Error as exc:
                raise ConfigError(f"{self.path}: cannot open the job database ({exc}); check the data folder") from exc
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def add(self, job: JobRecord) -> JobRecord:
        """Queue a new job; returns it with its arrival number and time.

        The arrival time is taken inside the write lock and never goes back, so the order of ``created_at``
        is the order of arrival (``seq``) whatever the number of threads and processes adding jobs.
        """
        conn = self._db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            last = conn.execute("SELECT MAX(created_at) FROM jobs").fetchone()[0]
            now = time.time() if last is None else max(time.time(), last + MIN_TIME_STEP_S)
            row = conn.execute(
                "INSERT INTO jobs (id, filename, status, created_at, n_files, size_bytes, n_studies, n_slices, "
                f"warnings) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
                (
                    job.id,
                    job.filename,
                    now,
                    job.n_files,
                    job.size_bytes,
                    job.n_studies,
                    job.n_slices,
                    json.dumps(job.warnings),
                ),
            ).fetchone()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return JobRecord._from_row(row)

    def get(self, job_id: str) -> JobRecord | None:
        """The job, or None."""
        row = self._db().execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else JobRecord._from_row(row)

    def all(self) -> list[JobRecord]:
        """Every job, newest first."""
        rows = self._db().execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY seq DESC").fetchall()
        return [JobRecord._from_row(r) for r in rows]

    def ids(self) -> set[str]:
        """The ids of every job."""
        return {r["id"] for r in self._db().execute("SELECT id FROM jobs")}

    def queue_position(self, job: JobRecord) -> int | None:
        """How many jobs run or wait before ``job`` (0: it is next), or None unless it is queued."""
        if job.status != "queued":
            return None
        row = (
            self._db()
            .execute(
                "SELECT COUNT(*) FROM jobs WHERE status = 'running' OR (status = 'queued' AND seq < ?)", (job.seq,)
            )
            .fetchone()
        )
        return int(row[0])

    def delete(self, job_id: str) -> JobRecord | None:
        """Remove the job (a worker running it stops at its next progress write); returns what it was."""
        row = self._db().execute(f"DELETE FROM jobs WHERE id = ? RETURNING {_COLUMNS}", (job_id,)).fetchone()
        return None if row is None else JobRecord._from_row(row)

    def claim_next(self, claim: str, worker_pid: int) -> JobRecord | None:
        """Take the oldest queued job: it becomes ``running`` under ``claim``; None when none waits."""
        row = (
            self._db()
            .execute(
                f"UPDATE jobs SET status = 'running', progress = 0, error = NULL, started_at = ?, finished_at = NULL, "
                f"attempts = attempts + 1, claim = ?, worker_pid = ? "
                f"WHERE seq = (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1) RETURNING {_COLUMNS}",
                (time.time(), claim, worker_pid),
            )
            .fetchone()
        )
        return None if row is None else JobRecord._from_row(row)

    def set_progress(self, job_id: str, claim: str, progress: float) -> bool:
        """Record progress; False when the job is no longer this claim's (deleted or requeued)."""
        cur = self._db().execute(
            "UPDATE jobs SET progress = ? WHERE id = ? AND claim = ? AND status = 'running'",
            (min(max(progress, 0.0), 1.0), job_id, claim),
        )
        return cur.rowcount == 1

    def finish(
        self,
        job_id: str,
        claim: str,
        status: Literal["done", "failed"],
        error: str | None = None,
        summary: dict[str, int] | None = None,
        warnings: list[str] | None = None,
    ) -> bool:
        """End the job; False when it is no longer this claim's."""
        cur = self._db().execute(
            "UPDATE jobs SET status = ?, progress = CASE WHEN ? = 'done' THEN 1 ELSE progress END, error = ?, "
            "summary = ?, warnings = COALESCE(?, warnings), finished_at = ?, claim = NULL, worker_pid = NULL "
            "WHERE id = ? AND claim = ? AND status = 'running'",
            (
                status,
                status,
                error,
                None if summary is None else json.dumps(summary),
                None if warnings is None else json.dumps(warnings),
                time.time(),
                job_id,
                claim,
            ),
        )
        return cur.rowcount == 1

    def release(self, job_id: str, claim: str) -> bool:
        """Put a job this claim holds back in the queue (its worker is stopping)."""
        cur = self._db().execute(
            _REQUEUE + " WHERE id = ? AND claim = ? AND status = 'running'",
            (job_id, claim),
        )
        return cur.rowcount == 1

    def requeue_running(self, worker_pid: int | None = None) -> list[str]:
        """Put interrupted jobs back in the queue, keeping their place: every running job (at start-up, when
        no worker of this server can be running), or those of one worker that stopped. Returns their ids."""
        sql = _REQUEUE + " WHERE status = 'running'"
        if worker_pid is None:
            rows = self._db().execute(f"{sql} RETURNING id").fetchall()
        else:
            rows = self._db().execute(f"{sql} AND worker_pid = ? RETURNING id", (worker_pid,)).fetchall()
        return [r["id"] for r in rows]

    def fail_exhausted(self, max_attempts: int, reason: str) -> list[str]:
        """Fail the queued jobs already taken ``max_attempts`` times (each stopped its worker); their ids."""
        rows = (
            self._db()
            .execute(
                "UPDATE jobs SET status = 'failed', error = ?, finished_at = ? "
                "WHERE status = 'queued' AND attempts >= ? RETURNING id",
                (reason, time.time(), max_attempts),
            )
            .fetchall()
        )
        return [r["id"] for r in rows]

    def count(self, status: JobStatus) -> int:
        """Jobs in ``status``."""
        return int(self._db().execute("SELECT COUNT(*) FROM jobs WHERE status = ?", (status,)).fetchone()[0])

    def raw(self, job_id: str) -> dict[str, Any] | None:
        """Every column of the job (for tests and debugging)."""
        row = self._db().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else dict(row)
