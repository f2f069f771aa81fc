"""The job service: what the web routes call, and what Python code can call without HTTP.

>>> service = JobService(ServiceConfig(data_dir=Path("data"), token="..."))
>>> service.open()
>>> job = service.submit_paths([Path("study.zip")])   # checked, queued; a worker pool runs it
>>> service.get(job.id).status

Opening the service recovers from any stop, kill -9 included: it takes the data folder's lock (one server
per data folder), puts every job left ``running`` back in the queue in its place, and removes half-received
uploads and job folders whose upload never reached the queue.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from http import HTTPStatus
from pathlib import Path
from typing import IO, Final

from ctangel.errors import ConfigError, CtangelError
from ctangel.io.deidentify import Deidentifier, load_or_create_key
from ctangel.io.limits import set_max_image_pixels
from ctangel.report.writer import RESULTS_NAME
from ctangel.service.config import INPUT_DIR, ServiceConfig
from ctangel.service.intake import (
    ReceivedFile,
    UploadError,
    UploadLimits,
    fsync_dir,
    prepare_input,
    remove_tree,
)
from ctangel.service.privacy import service_logger
from ctangel.service.store import JobRecord, JobStore
from ctangel.service.viewer import slice_image

log = service_logger

#: A job id: 32 lower-case hex digits (a uuid4).
JOB_ID: Final = re.compile(r"^[0-9a-f]{32}$")
LOCK_NAME: Final = "serve.lock"
UPLOAD_PREFIX: Final = "upload-"
#: Characters of a client's id or path quoted back in a message.
MAX_QUOTED_CHARS: Final = 200


class JobNotFoundError(CtangelError):
    """No job has this id."""


class JobNotReadyError(CtangelError):
    """The job has not (or not successfully) finished, so its outputs do not exist."""


class OutputNotFoundError(CtangelError):
    """The job has no such output file."""


class JobService:
    """Jobs in the data folder: submit, look up, list, delete, and find their outputs.

    Args:
        config: the service's configuration.
    """

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.layout = config.layout
        self.store = JobStore(self.layout.db)
        self.limits = UploadLimits(config.max_unzipped_bytes, config.max_zip_files)
        self.deidentifier: Deidentifier | None = None
        self._lock: IO[bytes] | None = None

    # --- life cycle ---------------------------------------------------------------------------------

    def open(self) -> None:
        """Create the data folder, take its lock and recover from the last stop.

        Raises:
            ConfigError: the data folder cannot be used, or another server holds it.
        """
        self.layout.create()
        self._lock = _lock(self.layout.root / LOCK_NAME)
        set_max_image_pixels(self.config.max_image_pixels)
        if self.config.deidentify:
            self.deidentifier = Deidentifier(load_or_create_key(self.layout.root))
        requeued = self.store.requeue_running()
        if requeued:
            log.info("%d interrupted job(s) back in the queue", len(requeued))
        self._sweep()
        log.info(
            "job store ready: %d queued, %d done, %d failed",
            self.store.count("queued"),
            self.store.count("done"),
            self.store.count("failed"),
        )

    def close(self) -> None:
        """Release the data folder's lock."""
        self.store.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _sweep(self) -> None:
        for leftover in self.layout.tmp.iterdir():
            remove_tree(leftover) if leftover.is_dir() else leftover.unlink(missing_ok=True)
        known = self.store.ids()
        orphans = [p for p in self.layout.jobs.iterdir() if p.name not in known]
        for path in orphans:
            remove_tree(path)
        if orphans:
            log.info("removed %d job folder(s) whose upload never reached the queue", len(orphans))

    # --- submitting ----------------------------------------------------------------------------------

    def new_upload_dir(self) -> Path:
        """A fresh folder in the data folder for an arriving upload (same file system as the job folders)."""
        return Path(tempfile.mkdtemp(prefix=UPLOAD_PREFIX, dir=self.layout.tmp))

    def submit(self, upload_dir: Path, files: Sequence[ReceivedFile]) -> JobRecord:
        """Check the files received in ``upload_dir`` and queue them as a job (``upload_dir`` is consumed).

        Raises:
            UploadError: the upload cannot be analysed (with the HTTP status to answer).
        """
        try:
            prepared = prepare_input(files, upload_dir / INPUT_DIR, self.limits, self.deidentifier)
            job_id = uuid.uuid4().hex
            os.rename(upload_dir, self.layout.job(job_id))
            fsync_dir(self.layout.jobs)
            job = self.store.add(
                JobRecord(
                    id=job_id,
                    filename=_display_name(files, self.deidentifier),
                    status="queued",
                    n_files=prepared.n_files,
                    size_bytes=prepared.size_bytes,
                    n_studies=prepared.n_studies,
                    n_slices=prepared.n_slices,
                    warnings=prepared.warnings,
                )
            )
        finally:
            remove_tree(upload_dir)
        log.info(
            "job %s queued: %d file(s), %d bytes, %d studies, %d slices",
            job.id,
            job.n_files,
            job.size_bytes,
            job.n_studies,
            job.n_slices,
        )
        return job

    def submit_paths(self, paths: Sequence[Path]) -> JobRecord:
        """Copy files (a zip, DICOM files, a NIfTI volume, images) into the data folder and queue them.

        Raises:
            UploadError: the files cannot be analysed, or pass the upload limit.
        """
        upload = self.new_upload_dir()
        received = []
        try:
            for k, path in enumerate(paths):
                target = upload / f"part-{k:06d}"
                shutil.copyfile(path, target)
                received.append(ReceivedFile(target, Path(path).name, target.stat().st_size))
            if sum(f.size for f in received) > self.config.max_upload_bytes:
                raise UploadError(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    f"the upload is larger than {self.config.max_upload_bytes} bytes, the limit",
                )
        except BaseException:
            remove_tree(upload)
            raise
        return self.submit(upload, received)

    # --- looking up ----------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord:
        """The job.

        Raises:
            JobNotFoundError: no job has this id.
        """
        job = self.store.get(job_id) if JOB_ID.match(job_id) else None
        if job is None:
            raise JobNotFoundError(f"job {job_id[:MAX_QUOTED_CHARS]!r} not found; it may have been deleted")
        return job

    def queue_position(self, job: JobRecord) -> int | None:
        """Jobs running or waiting before ``job`` (None unless it is queued)."""
        return self.store.queue_position(job)

    def all(self) -> list[JobRecord]:
        """Every job, newest first."""
        return self.store.all()

    def list_with_positions(self) -> list[tuple[JobRecord, int | None]]:
        """Every job, newest first, with its queue position (None unless queued)."""
        jobs = self.store.all()
        running = sum(j.status == "running" for j in jobs)
        queued = sorted((j for j in jobs if j.status == "queued"), key=lambda j: j.seq)
        positions = {j.id: running + k for k, j in enumerate(queued)}
        return [(j, positions.get(j.id)) for j in jobs]

    def delete(self, job_id: str) -> None:
        """Delete the job and its files.

        A running job's files are left to its worker, which stops at its next chunk of slices and removes
        them (removing them under it would make its reads fail and log errors for a job nobody wants); a
        worker that died first leaves them to the next start's sweep.

        Raises:
            JobNotFoundError: no job has this id.
        """
        self.get(job_id)
        record = self.store.delete(job_id)
        if record is None:
            raise JobNotFoundError(f"job {job_id!r} not found; it may have been deleted")
        if record.status == "running":
            log.info("job %s deleted; its worker stops and removes its files", job_id)
            return
        remove_tree(self.layout.job(job_id))
        log.info("job %s deleted", job_id)

    def results_path(self, job_id: str) -> Path:
        """The job's results.json.

        Raises:
            JobNotFoundError: no job has this id.
            JobNotReadyError: the job is not done.
        """
        return self.output_file(job_id, RESULTS_NAME)

    def output_file(self, job_id: str, relative: str) -> Path:
        """A file of the job's output folder (results.json, report.html, masks.zip, overlays ...).

        Raises:
            JobNotFoundError: no job has this id.
            JobNotReadyError: the job is not done.
            OutputNotFoundError: the output folder holds no such file (or the path leaves it).
        """
        job = self._done(job_id)
        root = self.layout.output(job.id).resolve()
        path = (root / relative).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise OutputNotFoundError(f"job {job.id}: no output file {relative[:MAX_QUOTED_CHARS]!r}")
        return path

    def slice_image(self, job_id: str, study: int, index: int, overlay: bool) -> Path:
        """The viewer's PNG of slice ``index`` of study ``study`` (with lesion boxes when ``overlay``).

        Raises:
            JobNotFoundError: no job has this id.
            JobNotReadyError: the job is not done.
            OutputNotFoundError: the job has no such slice.
        """
        job = self._done(job_id)
        path = slice_image(self.layout.slices(job.id), study, index, overlay) if study >= 0 and index >= 0 else None
        if path is None:
            raise OutputNotFoundError(f"job {job.id}: no slice {index} in study {study}")
        return path

    def _done(self, job_id: str) -> JobRecord:
        job = self.get(job_id)
        if job.status != "done":
            reason = f": {job.error}" if job.error else ""
            raise JobNotReadyError(f"job {job.id} is {job.status}{reason}; its outputs exist once it is done")
        return job


def _display_name(files: Sequence[ReceivedFile], deidentifier: Deidentifier | None) -> str:
    first = re.split(r"[\\/]", files[0].filename)[-1] or "upload"
    if deidentifier is not None:
        first = deidentifier.path(first)
    return first if len(files) == 1 else f"{first} (+{len(files) - 1} more)"


def check_data_dir_free(data_dir: Path) -> None:
    """Fail early, with one clear line, when another server holds ``data_dir`` (the server checks again).

    Raises:
        ConfigError: another ctangel server uses the data folder.
    """
    lock = data_dir / LOCK_NAME
    if lock.is_file():
        _lock(lock).close()


def _lock(path: Path) -> IO[bytes]:
    """Hold an exclusive lock on ``path`` while the returned file stays open (released at exit, even kill -9)."""
    f = open(path, "a+b")  # noqa: SIM115 (held open for the server's life)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, one server per data folder is up to the user
        return f
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        f.close()
        raise ConfigError(
            f"{path.parent}: another ctangel server uses this data folder; stop it or choose another --data-dir"
        ) from exc
    return f
