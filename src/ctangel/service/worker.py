"""Worker processes: each loads the pipeline once, then runs queued jobs one at a time, oldest first.

A worker runs :func:`analyze_job` on each job it claims: the same :class:`~ctangel.inference.Pipeline` and
:class:`~ctangel.report.OutputWriter` that ``ctangel analyze`` uses, writing into the job's folder, with a
:class:`~ctangel.service.viewer.SliceImageWriter` beside it for the browser's viewer. Progress goes to the
job store after every chunk of slices; a write that finds the job deleted or taken back stops the job, and
a worker whose server is stopping (or gone: killed with -9) puts its job back in the queue or just exits,
so the next start picks it up.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import secrets
import signal
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, Literal

from ctangel.errors import CtangelError
from ctangel.inference import AnalysisResult, Pipeline
from ctangel.io import discover
from ctangel.io.deidentify import Deidentifier, load_or_create_key
from ctangel.io.limits import set_max_image_pixels
from ctangel.models.runtime import default_threads
from ctangel.report import OutputWriter
from ctangel.report.writer import MASKS_DIR
from ctangel.service.config import INPUT_DIR, OUTPUT_DIR, SLICES_DIR, ServiceConfig
from ctangel.service.intake import remove_tree
from ctangel.service.privacy import guard_logs, service_logger
from ctangel.service.store import JobRecord, JobStore
from ctangel.service.viewer import SliceImageWriter, TeeSink

log = service_logger

#: Share of the progress bar the slices fill; the report, masks and their zip take the rest.
ANALYSIS_SHARE: Final = 0.95
#: The zip of a job's masks (the OutputWriter's ``masks/`` folder), in its output folder.
MASKS_ZIP: Final = "masks.zip"
#: Which slices get a captioned overlay in the report (the viewer draws every slice anyway).
REPORT_OVERLAYS: Final = "positive"
#: Why a job that stopped its workers too often is failed.
EXHAUSTED: Final = (
    "the analysis was interrupted {n} times (the worker process stopped: out of memory, or the server was "
    "restarted); the study may be too large for this server"
)
#: Seconds between two looks for uploaded inputs past their keeping time (``keep_inputs_s``).
INPUT_SWEEP_INTERVAL_S: Final = 60.0
#: Random bytes of a claim (what fences a worker's writes to the job it took).
CLAIM_BYTES: Final = 16
WORKER_LOG_FORMAT: Final = "%(levelname)s %(name)s [worker %(process)d]: %(message)s"


class JobGoneError(Exception):
    """The job was deleted, or given to another worker, while this one ran it."""


class ShutdownRequestedError(Exception):
    """The server is stopping or gone: the job goes back to the queue."""


@dataclass
class JobOutcome:
    """How a job ended.

    Args:
        status: ``done`` (at least one study analysed) or ``failed``.
        error: why it failed.
        summary: counts for the job list.
        warnings: inputs that could not be analysed (the others were).
    """

    status: Literal["done", "failed"]
    error: str | None = None
    summary: dict[str, int] | None = None
    warnings: list[str] = field(default_factory=list)


def summarize(result: AnalysisResult) -> dict[str, int]:
    """Counts of a finished analysis, for the job list."""
    studies = [s for p in result.patients for s in p.studies]
    return {
        "patients": len(result.patients),
        "positive_patients": sum(p.positive for p in result.patients),
        "studies": len(studies),
        "positive_studies": sum(s.positive for s in studies),
        "slices": sum(len(s.slices) for s in studies),
        "positive_slices": sum(s.n_positive_slices for s in studies),
    }


def analyze_job(
    pipeline: Pipeline,
    job_dir: Path,
    report_progress: Callable[[float], None],
    deidentifier: Deidentifier | None = None,
) -> JobOutcome:
    """Analyse a job's ``input`` folder into its ``output`` and ``slices`` folders (emptied first).

    The pipeline runs with the job's folder as the working directory, so the paths results.json records are
    relative to it (``input/...``) and no server path leaks into a report.

    Args:
        pipeline: the worker's pipeline.
        job_dir: the job's folder.
        report_progress: called with 0..1 after every chunk of slices; may raise to stop the job.
        deidentifier: when given, the outputs name the patient only by keyed hashes.

    Raises:
        CtangelError: the outputs cannot be written.
    """
    output, slices = job_dir / OUTPUT_DIR, job_dir / SLICES_DIR
    remove_tree(output)
    remove_tree(slices)
    window = pipeline.settings.window
    writer = OutputWriter(output, window, write_masks=True, overlays=REPORT_OVERLAYS, dicom_seg=True)
    sink = TeeSink(writer, SliceImageWriter(slices, window))
    counts = {"total": 0, "done": 0}

    def on_total(n: int) -> None:
        counts["total"] = n
        report_progress(0.0)

    def on_progress(n: int) -> None:
        counts["done"] += n
        report_progress(ANALYSIS_SHARE * counts["done"] / max(counts["total"], 1))

    with _working_dir(job_dir):
        found = discover([INPUT_DIR])
        result = pipeline.analyze_studies(
            deidentifier.apply(found) if deidentifier else found, sink=sink, progress=on_progress, on_total=on_total
        )
    warnings = [f"{_in_upload(e['input'])}: {e['error']}" for e in result.errors]
    if not result.patients:
        return JobOutcome("failed", "; ".join(warnings) or "nothing was analysed", None, warnings)
    zip_folder(output / MASKS_DIR, output / MASKS_ZIP)
    return JobOutcome("done", None, summarize(result), warnings)


def _in_upload(path: str) -> str:
    """A path under the job's input folder as the uploader knows it (``input/a/b.dcm`` -> ``a/b.dcm``)."""
    prefix = INPUT_DIR + "/"
    return path[len(prefix) :] if path.startswith(prefix) else path


def zip_folder(folder: Path, target: Path) -> bool:
    """Zip ``folder``'s files (paths relative to it) into ``target``, atomically; False when it is missing."""
    if not folder.is_dir():
        return False
    tmp = target.with_name(f".{target.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    tmp.replace(target)
    return True


@contextlib.contextmanager
def _working_dir(path: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


class Worker:
    """Takes jobs from the store and runs them with one pipeline, loaded here once.

    Args:
        config: the service's configuration.
        should_stop: polled between jobs and after every chunk of slices.
        store: the job store (default: the data folder's).
    """

    def __init__(self, config: ServiceConfig, should_stop: Callable[[], bool], store: JobStore | None = None) -> None:
        self.config = config
        self.should_stop = should_stop
        self.store = store or JobStore(config.layout.db)
        set_max_image_pixels(config.max_image_pixels)
        self.deidentifier = Deidentifier(load_or_create_key(config.data_dir)) if config.deidentify else None
        self._inputs_swept_at = 0.0
        settings = config.analysis
        if settings.threads is None and config.workers > 1:
            settings = replace(settings, threads=max(1, default_threads() // config.workers))
        self.pipeline: Pipeline | None = None
        self.load_error: str | None = None
        started = time.perf_counter()
        try:
            self.pipeline = Pipeline(settings)
        except CtangelError as exc:
            self.load_error = f"the models could not be loaded: {exc}"
            log.error("worker %d: %s", os.getpid(), self.load_error)
        else:
            if settings.threads is not None and settings.backend == "torch":
                import torch

                torch.set_num_threads(settings.threads)
            log.info("worker %d: models loaded in %.1f s", os.getpid(), time.perf_counter() - started)

    def run(self) -> None:
        """Run jobs until told to stop."""
        while not self.should_stop():
            if not self.run_next():
                time.sleep(self.config.poll_interval_s)

    def run_next(self) -> bool:
        """Run the oldest queued job, if any; whether there was one."""
        for job_id in self.store.fail_exhausted(self.config.max_attempts, EXHAUSTED.format(n=self.config.max_attempts)):
            log.warning("job %s: failed after %d interrupted attempts", job_id, self.config.max_attempts)
            self._drop_input(job_id)
        claim = secrets.token_hex(CLAIM_BYTES)
        job = self.store.claim_next(claim, os.getpid())
        if job is None:
            self.expire_inputs()
            return False
        self._run(job, claim)
        return True

    def _run(self, job: JobRecord, claim: str) -> None:
        started = time.perf_counter()
        log.info("job %s: started (attempt %d, %d slices)", job.id, job.attempts, job.n_slices)
        job_dir = self.config.layout.job(job.id)

        def report(progress: float) -> None:
            if self.should_stop():
                raise ShutdownRequestedError
            if not self.store.set_progress(job.id, claim, progress):
                raise JobGoneError

        try:
            if self.pipeline is None:
                outcome = JobOutcome("failed", self.load_error)
            else:
                outcome = analyze_job(self.pipeline, job_dir, report, self.deidentifier)
        except JobGoneError:
            log.info("job %s: deleted or taken back while running; stopped", job.id)
            self._forget_if_deleted(job.id)
            return
        except ShutdownRequestedError:
            self.store.release(job.id, claim)
            log.info("job %s: back in the queue (the server is stopping)", job.id)
            return
        except CtangelError as exc:
            outcome = JobOutcome("failed", str(exc))
        except Exception as exc:  # a bug or a reader's surprise must fail this job, not the worker
            log.error("job %s: internal error (%s)", job.id, type(exc).__name__)
            outcome = JobOutcome("failed", f"internal error ({type(exc).__name__}: {exc})")
        finally:
            gc.collect()
        if not self.store.finish(job.id, claim, outcome.status, outcome.error, outcome.summary, outcome.warnings):
            self._forget_if_deleted(job.id)
            return
        if self.config.keep_inputs_s == 0:
            self._drop_input(job.id)
        log.info(
            "job %s: %s in %.1f s (%d input problems)",
            job.id,
            outcome.status,
            time.perf_counter() - started,
            len(outcome.warnings),
        )

    def expire_inputs(self, now: float | None = None) -> list[str]:
        """Remove the uploaded inputs of jobs that ended more than ``keep_inputs_s`` ago (at most once every
        :data:`INPUT_SWEEP_INTERVAL_S` unless ``now`` is given); the ids of the jobs whose input went."""
        clock = time.time() if now is None else now
        if now is None and clock - self._inputs_swept_at < INPUT_SWEEP_INTERVAL_S:
            return []
        self._inputs_swept_at = clock
        expired = [
            j.id
            for j in self.store.all()
            if j.status in ("done", "failed")
            and j.finished_at is not None
            and clock - j.finished_at >= self.config.keep_inputs_s
            and self.config.layout.input(j.id).exists()
        ]
        for job_id in expired:
            self._drop_input(job_id)
        return expired

    def _drop_input(self, job_id: str) -> None:
        """The uploaded study holds the patient's data: remove it, keep the results."""
        folder = self.config.layout.input(job_id)
        if folder.exists():
            remove_tree(folder)
            log.info("job %s: uploaded input removed (results kept)", job_id)

    def _forget_if_deleted(self, job_id: str) -> None:
        if self.store.get(job_id) is None:
            remove_tree(self.config.layout.job(job_id))


def worker_main(config: ServiceConfig, parent_pid: int, log_level: int) -> None:
    """A worker process's entry point (spawned by :class:`~ctangel.service.pool.WorkerPool`).

    SIGTERM asks the worker to stop: a running job goes back to the queue at its next chunk of slices.
    SIGINT (Ctrl-C reaches the whole process group) is left to the server, which then stops its workers.

    Args:
        config: the service's configuration.
        parent_pid: the server's pid; the worker also stops when its parent is gone (killed with -9).
        log_level: the server's log level.
    """
    stop_requested = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, request_stop)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(WORKER_LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(log_level)
    logging.captureWarnings(True)
    guard_logs()

    def should_stop() -> bool:
        return stop_requested or os.getppid() != parent_pid

    worker = Worker(config, should_stop)
    worker.run()
    log.info("worker %d: stopped", os.getpid())
