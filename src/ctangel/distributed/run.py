"""The client side of a cluster run: find the studies, send one task per study, gather, report.

>>> from ctangel.distributed import ClusterOptions, analyze_on_cluster
>>> outcome = analyze_on_cluster(["archive/"], Path("out"), AnalysisSettings(), cluster=ClusterOptions(workers=2))
>>> outcome.result.to_dict() == json.loads(Path("out/results.json").read_text())  # but for timings_s
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ctangel import __version__
from ctangel.distributed.store import RecordedStudy, RunStore, StudyRecord
from ctangel.distributed.worker import (
    PROGRESS_TOPIC,
    OutputOptions,
    PipelinePlugin,
    StudyTask,
    analyze_study_task,
    describe_worker_models,
)
from ctangel.errors import ConfigError, InputError
from ctangel.inference.decisions import PatientRule
from ctangel.inference.results import AnalysisResult, PatientResult
from ctangel.inference.settings import AnalysisSettings
from ctangel.inference.timing import STAGES
from ctangel.io.discover import discover
from ctangel.io.study import Study
from ctangel.log import logger
from ctangel.report.writer import OutputWriter

if TYPE_CHECKING:
    from distributed import Client

#: Times Dask runs a study again after an unexpected error on a worker (a worker that dies is replaced
#: by the scheduler's own rule, ``distributed.scheduler.allowed-failures``).
DEFAULT_RETRIES: Final = 2
#: Where a local cluster serves Dask's dashboard.
DEFAULT_DASHBOARD_ADDRESS: Final = ":8787"
#: How long to wait for a first worker to join the scheduler.
WAIT_FOR_WORKERS_S: Final = 120.0
#: Hex digits of a study's key (sha1 of its input, series and study ids).
KEY_HEX_DIGITS: Final = 20
#: Settings that change how fast, not what: a study done with other values of these is not done again.
_SPEED_ONLY: Final = frozenset({"threads"})


@dataclass(frozen=True)
class ClusterOptions:
    """Where the studies are analysed.

    Args:
        scheduler: a running Dask scheduler's address (``tcp://HOST:8786``); None starts a local cluster.
        workers: worker processes of the local cluster (one thread each); None: one per core.
        model_threads: threads per model on each worker; None: ``AnalysisSettings.threads`` when given,
            else (local cluster) the cores shared out between the workers, (scheduler) all of a worker's cores.
        retries: times a study is run again after an unexpected error on a worker.
        dashboard_address: where a local cluster serves its dashboard (None: no dashboard).
        wait_for_workers_s: how long to wait for a first worker.
    """

    scheduler: str | None = None
    workers: int | None = None
    model_threads: int | None = None
    retries: int = DEFAULT_RETRIES
    dashboard_address: str | None = DEFAULT_DASHBOARD_ADDRESS
    wait_for_workers_s: float = WAIT_FOR_WORKERS_S

    def __post_init__(self) -> None:
        if self.scheduler is not None and self.workers is not None:
            raise ConfigError("give either a scheduler address or a number of local workers, not both")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {self.workers}")
        if self.retries < 0:
            raise ConfigError(f"retries must be 0 or more, got {self.retries}")


class ClusterObserver:
    """Told what a cluster run is doing (the CLI draws its progress bar from it); does nothing by default."""

    def connected(self, dashboard_link: str | None, workers: int) -> None:
        """The client is connected; ``dashboard_link`` is Dask's dashboard, when it serves one."""

    def planned(self, studies: int, slices: int, done_studies: int, done_slices: int) -> None:
        """The run's size, and how much of it earlier runs did."""

    def slices(self, n: int) -> None:
        """``n`` slices more are done (negative: a lost attempt's slices are taken back)."""

    def study(self, key: str, done: bool) -> None:
        """A study is in: done, or failed."""

    def patient(self, result: PatientResult) -> None:
        """All studies of a patient are in; ``result`` holds their call."""


@dataclass
class ClusterOutcome:
    """What a cluster run did.

    Args:
        result: the run (what results.json holds).
        results_path: results.json.
        report_path: report.html.
        resumed: studies done by an earlier run and not analysed again.
        analysed: studies analysed by this run (done or failed).
    """

    result: AnalysisResult
    results_path: Path
    report_path: Path
    resumed: int = 0
    analysed: int = 0


@dataclass
class _Planned:
    study: Study
    key: str
    name: str
    record: StudyRecord | None = None


@dataclass
class _Progress:
    """Per study, the execution whose slices are counted, and how many; safe to update from any thread."""

    observer: ClusterObserver
    counted: dict[str, tuple[str, int]] = field(default_factory=dict)
    final: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def event(self, event: tuple[float, dict[str, Any]]) -> None:
        _, msg = event
        key, execution, n = str(msg["key"]), str(msg["execution"]), int(msg["slices"])
        with self.lock:
            if key in self.final:
                return
            seen, count = self.counted.get(key, (execution, 0))
            delta = n
            if seen != execution:  # a new attempt after a lost one: its slices start from zero
                delta -= count
                count = 0
            self.counted[key] = (execution, count + n)
        self.observer.slices(delta)

    def finish(self, key: str, n_slices: int) -> None:
        with self.lock:
            _, count = self.counted.get(key, ("", 0))
            self.final.add(key)
        self.observer.slices(n_slices - count)


def analyze_on_cluster(
    inputs: Sequence[str | Path],
    out_dir: Path,
    settings: AnalysisSettings,
    output: OutputOptions | None = None,
    cluster: ClusterOptions | None = None,
    observer: ClusterObserver | None = None,
) -> ClusterOutcome:
    """Analyse every study under ``inputs`` on a Dask cluster, one task per study, and write the run's report.

    Studies whose record under ``out_dir`` says they are done with the same settings, models and output
    options are not analysed again. ``results.json`` holds what a single-process ``Pipeline.analyze`` of the
    same inputs holds (paths as given), but for ``timings_s``: here the seconds every worker
    spent, summed. Inputs and ``out_dir`` must lie at the same paths on every worker (shared storage).

    Raises:
        ConfigError: the scheduler cannot be reached, no worker joins, or the workers' models differ.
        WeightsError: a model cannot be loaded on a worker.
    """
    output = output or OutputOptions()
    if output.labels is not None:  # read by workers, whose working folder may differ
        output = dataclasses.replace(output, labels=Path(output.labels).resolve())
    cluster = cluster or ClusterOptions()
    observer = observer or ClusterObserver()
    out_dir = Path(out_dir)
    writer = OutputWriter(
        out_dir, settings.window, labels=output.labels, write_masks=output.write_masks, overlays=output.overlays
    )
    store = RunStore(out_dir.resolve())
    rule = PatientRule(settings.patient_min_positive_slices, settings.patient_min_lesion_area_px_at_512)
    given = _GivenPaths(inputs)
    found = list(discover(given.absolute))
    studies = [given.relabel_study(s) for s in found if isinstance(s, Study)]
    errors = [InputError(given(e.path), e.problem) for e in found if isinstance(e, InputError)]
    for err in errors:
        logger.error("%s", err)
    with _connect(cluster) as client:
        plugin = PipelinePlugin(settings, _model_threads(settings, cluster))
        client.register_plugin(plugin)
        models = _worker_models(client)
        observer.connected(_dashboard(client), len(client.scheduler_info().get("workers", {})))
        fingerprint = _fingerprint(settings, models, output)
        plan = _plan(studies, writer, store, fingerprint)
        store.clear_staging()
        pending = [p for p in plan if p.record is None]
        resumed = len(plan) - len(pending)
        observer.planned(
            len(plan),
            sum(len(p.study) for p in plan),
            resumed,
            sum(len(p.study) for p in plan if p.record is not None),
        )
        _run(client, plan, pending, store.out_dir, fingerprint, output, cluster.retries, rule, observer)
        store.clear_staging()
    result = _assemble(plan, errors, rule, models, settings, given)
    for p in plan:
        if p.record is not None and p.record.done:
            writer.update_notes(p.record.notes)
    for error in result.errors:
        writer.fail_input(InputError(error["input"], error["error"]))
    writer.finish(result)
    return ClusterOutcome(result, writer.results_path, writer.report_path, resumed, len(pending))


def study_key(study: Study) -> str:
    """A study's key: the same for the same input, series and study from run to run (paths as discovered)."""
    text = "\0".join((study.input, study.series_id, study.study_id))
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:KEY_HEX_DIGITS]


def _plan(studies: list[Study], writer: OutputWriter, store: RunStore, fingerprint: str) -> list[_Planned]:
    """Name every study as a single-process run would (in the same order), and find those already done."""
    plan = []
    for study in studies:
        writer.start_study(study)
        name = writer.study_name(study)
        key = study_key(study)
        plan.append(_Planned(study, key, name, store.done(key, name, fingerprint)))
    return plan


def _run(
    client: Client,
    plan: list[_Planned],
    pending: list[_Planned],
    out_dir: Path,
    fingerprint: str,
    output: OutputOptions,
    retries: int,
    rule: PatientRule,
    observer: ClusterObserver,
) -> None:
    """Submit the pending studies and fill in their records as they come in, telling ``observer``."""
    from distributed import as_completed

    progress = _Progress(observer)
    by_patient: dict[str, list[_Planned]] = {}
    for p in plan:
        by_patient.setdefault(p.study.patient_id, []).append(p)
    waiting = {pid: sum(p.record is None for p in ps) for pid, ps in by_patient.items()}
    token = uuid.uuid4().hex[:8]
    client.subscribe_topic(PROGRESS_TOPIC, progress.event)
    try:
        futures = {}
        for p in pending:
            task = StudyTask(p.key, p.name, p.study, out_dir, fingerprint, output)
            future = client.submit(
                analyze_study_task, task, key=f"ctangel-study-{p.key}-{token}", retries=retries, pure=False
            )
            futures[future] = p
        for future in as_completed(futures):
            p = futures[future]
            p.record = _outcome(future, p, fingerprint)
            progress.finish(p.key, len(p.study) if p.record.done else 0)
            observer.study(p.key, p.record.done)
            pid = p.study.patient_id
            waiting[pid] -= 1
            if waiting[pid] == 0:
                done = [q.record.study_result() for q in by_patient[pid] if q.record is not None and q.record.done]
                if done:
                    observer.patient(_patient(pid, done, rule))
    finally:
        client.unsubscribe_topic(PROGRESS_TOPIC)


def _outcome(future: Any, p: _Planned, fingerprint: str) -> StudyRecord:
    try:
        return StudyRecord.from_dict(future.result())
    except Exception as exc:  # a process boundary: whatever killed the study's last attempt is recorded
        logger.error("%s: analysis failed on the cluster (%s: %s)", p.study.input, type(exc).__name__, exc)
        problem = f"analysis failed on the cluster after its retries ({type(exc).__name__}: {exc})"
        return StudyRecord(
            p.key, p.name, fingerprint, p.study.patient_id, error={"input": p.study.input, "error": problem}
        )


def _patient(pid: str, studies: list[RecordedStudy], rule: PatientRule) -> PatientResult:
    """The patient's call over their studies, as ``Pipeline.analyze`` makes it."""
    return PatientResult(pid, rule([s for st in studies for s in st.slices]), rule.describe(), list(studies))


def _assemble(
    plan: list[_Planned],
    errors: list[InputError],
    rule: PatientRule,
    models: dict[str, object],
    settings: AnalysisSettings,
    given: _GivenPaths,
) -> AnalysisResult:
    """The run as ``Pipeline.analyze`` would give it: patients in the order first seen, then the errors."""
    by_patient: dict[str, list[RecordedStudy]] = {}
    failed: list[dict[str, str]] = []
    timings = dict.fromkeys(STAGES, 0.0)
    for p in plan:
        record = p.record
        if record is None:
            continue
        for stage, seconds in record.timings.items():
            timings[stage] = timings.get(stage, 0.0) + seconds
        if record.done:
            by_patient.setdefault(record.patient_id, []).append(record.study_result())
        elif record.error is not None:
            failed.append({"input": given(record.error["input"]), "error": record.error["error"]})
    patients = [_patient(pid, sts, rule) for pid, sts in by_patient.items()]
    result = AnalysisResult(
        version=__version__,
        models=models,
        settings=settings.to_dict(),
        patients=patients,
        errors=[{"input": e.path, "error": e.problem} for e in errors] + failed,
    )
    result.timings = {k: round(v, 3) for k, v in timings.items()}
    return result


class _GivenPaths:
    """Inputs made absolute for the workers, and paths found under them turned back into the given form."""

    def __init__(self, inputs: Sequence[str | Path]) -> None:
        self.pairs = [(os.path.abspath(str(g)), str(g)) for g in inputs]
        # Longest first: an input inside another maps to its own given form.
        self._lookup = sorted(self.pairs, key=lambda pair: len(pair[0]), reverse=True)

    @property
    def absolute(self) -> list[str]:
        """The inputs, absolute."""
        return [a for a, _ in self.pairs]

    def __call__(self, path: str) -> str:
        """``path`` (found under an absolute input) as it is found under the input as given."""
        for absolute, given in self._lookup:
            if path == absolute:
                return given
            if path.startswith(absolute) and path[len(absolute)] in (os.sep, "#"):
                # discovery joins what it finds to the input as given, whose trailing separator goes
                return (given.rstrip(os.sep) or os.sep) + path[len(absolute) :]
        return path

    def relabel_study(self, study: Study) -> Study:
        """``study`` with its paths in the given form; its loader still reads the absolute ones."""
        study.input = self(study.input)
        study.sources = [self(s) for s in study.sources]
        study.skipped = [self(line) for line in study.skipped]
        return study


@contextlib.contextmanager
def _connect(cluster: ClusterOptions) -> Iterator[Client]:
    from distributed import Client, LocalCluster

    if cluster.scheduler is None:
        with (
            LocalCluster(
                n_workers=cluster.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=cluster.dashboard_address,
            ) as local,
            Client(local) as client,
        ):
            yield client
        return
    try:
        client = Client(cluster.scheduler, timeout=cluster.wait_for_workers_s)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            f"{cluster.scheduler}: cannot reach the Dask scheduler ({exc}); start one with `dask scheduler`"
        ) from exc
    with client:
        try:
            client.wait_for_workers(1, timeout=cluster.wait_for_workers_s)
        except TimeoutError as exc:
            raise ConfigError(
                f"{cluster.scheduler}: no worker joined in {cluster.wait_for_workers_s:g} s; "
                f"start some with `dask worker {cluster.scheduler} --nthreads 1`"
            ) from exc
        yield client


def _model_threads(settings: AnalysisSettings, cluster: ClusterOptions) -> int | None:
    if cluster.model_threads is not None or settings.threads is not None:
        return cluster.model_threads if cluster.model_threads is not None else settings.threads
    if cluster.scheduler is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return max(1, cores // (cluster.workers or cores))
    return None


def _worker_models(client: Client) -> dict[str, object]:
    """The models every worker loaded; they must be the same everywhere."""
    described = client.run(describe_worker_models)
    distinct = {json.dumps(d, sort_keys=True, default=str) for d in described.values()}
    if len(distinct) != 1:
        raise ConfigError(
            f"the workers loaded {len(distinct)} different sets of models; give every worker the same weights"
        )
    return next(iter(described.values()))


def _fingerprint(settings: AnalysisSettings, models: dict[str, object], output: OutputOptions) -> str:
    kept = {k: _number(v) for k, v in settings.to_dict().items() if k not in _SPEED_ONLY}
    doc = {"version": __version__, "settings": kept, "models": models, "output": output.to_dict()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _number(value: object) -> object:
    """Numbers as floats: the CLI gives ``1200.0`` where the API's default is ``1200``, the same setting."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _dashboard(client: Client) -> str | None:
    with contextlib.suppress(Exception):  # no dashboard (bokeh missing, or turned off)
        link = client.dashboard_link
        return str(link) if link else None
    return None
