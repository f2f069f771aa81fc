"""What runs on a Dask worker: the plugin that loads the models once, and the task that analyses one study."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ctangel.distributed.store import RunStore, StudyRecord
from ctangel.errors import CtangelError, InputError
from ctangel.inference.pipeline import Pipeline, SliceFindings
from ctangel.inference.settings import AnalysisSettings
from ctangel.log import logger
from ctangel.models.registry import LoadedModel, load_model
from ctangel.report.writer import OutputWriter, OverlayChoice
from distributed import WorkerPlugin, get_worker

if TYPE_CHECKING:
    from ctangel.inference.results import AnalysisResult, SliceResult, StudyResult
    from ctangel.io.study import SlicePixels, Study
    from distributed import Worker

#: The name the plugin is registered under on every worker.
PLUGIN_NAME: Final = "ctangel-pipeline"
#: The event topic a worker reports finished slices on: ``{"key", "execution", "slices", "worker"}``.
PROGRESS_TOPIC: Final = "ctangel-progress"


@dataclass(frozen=True)
class OutputOptions:
    """What the writer of every study is asked to write (``ctangel analyze``'s output options).

    Args:
        labels: a folder of label images (green boxes on the overlays), or None.
        write_masks: write lesion masks.
        overlays: which slices get an overlay image.
    """

    labels: Path | None = None
    write_masks: bool = False
    overlays: OverlayChoice = "positive"

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for the run's fingerprint."""
        return {"labels": None if self.labels is None else str(self.labels), "masks": self.write_masks,
                "overlays": self.overlays}  # fmt: skip


@dataclass(frozen=True)
class StudyTask:
    """One study to analyse: what a worker needs, pickled to it.

    Args:
        key: the study's key (its record's name).
        name: the name its outputs go under.
        study: the study (its loader reads from paths every worker sees).
        out_dir: the run's output folder, on storage every worker sees.
        fingerprint: the run's fingerprint, kept in the record.
        output: the output options.
    """

    key: str
    name: str
    study: Study
    out_dir: Path
    fingerprint: str
    output: OutputOptions


class PipelinePlugin(WorkerPlugin):
    """Loads the two models once per worker process, when the plugin is registered or the worker starts.

    Args:
        settings: the analysis settings.
        model_threads: threads per model on each worker (None: ``settings.threads``, else all cores).
    """

    name = PLUGIN_NAME

    def __init__(self, settings: AnalysisSettings, model_threads: int | None = None) -> None:
        self.settings = settings
        self.model_threads = model_threads if model_threads is not None else settings.threads
        self.lung_model: LoadedModel | None = None
        self.lesion_model: LoadedModel | None = None

    def setup(self, worker: Worker) -> None:
        """Load the models (a missing or corrupt weight file fails the registration, on the client)."""
        s = self.settings
        self.lung_model = load_model(s.lung_model, "lung", s.backend, self.model_threads)
        self.lesion_model = load_model(s.lesion_model, "lesion", s.backend, self.model_threads)
        logger.info("worker %s: models loaded (%d threads each)", worker.address, self.model_threads or 0)

    def pipeline(self) -> Pipeline:
        """A pipeline on the loaded models (cheap: one per task, so that tasks on threads share nothing else)."""
        return Pipeline(self.settings, self.lung_model, self.lesion_model)

    def describe_models(self) -> dict[str, object]:
        """The ``models`` entry of results.json."""
        return self.pipeline().describe_models()


def describe_worker_models(dask_worker: Worker) -> dict[str, object]:
    """On a worker, through ``Client.run``: the ``models`` entry its plugin's models give."""
    return _plugin(dask_worker).describe_models()


def analyze_study_task(task: StudyTask) -> dict[str, Any]:
    """On a worker: analyse one study, write its outputs and, last, its record; return the record's content.

    A study already done (by an earlier attempt that was lost after its record was written) is not
    analysed again. A bad input is recorded as a failure and returned; any other error is raised, so
    that Dask retries the study (on another worker if this one died).

    Args:
        task: the study.
    """
    store = RunStore(task.out_dir)
    earlier = store.done(task.key, task.name, task.fingerprint)
    if earlier is not None:
        return earlier.to_dict()
    worker = get_worker()
    pipeline = _plugin().pipeline()
    execution = uuid.uuid4().hex  # tells the client's progress bar this attempt from a lost one
    staging = store.new_staging(task.key)
    try:
        writer = OutputWriter(
            staging,
            pipeline.settings.window,
            labels=task.output.labels,
            write_masks=task.output.write_masks,
            overlays=task.output.overlays,
        )
        sink = _NamedSink(writer, task.name)

        def progress(n: int) -> None:
            event = {"key": task.key, "execution": execution, "slices": n, "worker": worker.address}
            worker.log_event(PROGRESS_TOPIC, event)

        study = task.study
        record = StudyRecord(task.key, task.name, task.fingerprint, study.patient_id, worker=worker.address)
        try:
            result = pipeline.analyze_study(study, sink, progress)
        except CtangelError as exc:
            err = exc if isinstance(exc, InputError) else InputError(study.input, str(exc))
            logger.error("%s", err)
            record.error = {"input": err.path, "error": err.problem}
        else:
            record.study = result.to_dict()
            record.notes = writer.notes
            record.pixel_area_mm2 = result.pixel_area_mm2
            record.voxel_volume_ml = result.voxel_volume_ml
            record.probabilities = [float(s.lesion_probability) for s in result.slices]
        record.timings = pipeline.timings.to_dict()
        if record.done:
            store.commit(staging, record)
        else:
            store.write_record(record)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # a failed attempt's outputs; a committed one is gone already
    return record.to_dict()


def _plugin(worker: Worker | None = None) -> PipelinePlugin:
    plugin = (worker or get_worker()).plugins.get(PLUGIN_NAME)
    if not isinstance(plugin, PipelinePlugin):
        raise RuntimeError(f"the {PLUGIN_NAME} worker plugin is not registered on this worker")
    return plugin


class _NamedSink:
    """Forwards to an :class:`OutputWriter`, starting the study under the name the client gave it."""

    def __init__(self, writer: OutputWriter, name: str) -> None:
        self.writer = writer
        self.name = name

    def start_study(self, study: Study) -> None:
        """Start the study under the given name."""
        self.writer.start_study(study, self.name)

    def add_slice(self, study: Study, result: SliceResult, pixels: SlicePixels, findings: SliceFindings) -> None:
        """Forward."""
        self.writer.add_slice(study, result, pixels, findings)

    def finish_study(self, study: Study, result: StudyResult) -> None:
        """Forward."""
        self.writer.finish_study(study, result)

    def fail_input(self, error: InputError) -> None:
        """Forward."""
        self.writer.fail_input(error)

    def finish(self, result: AnalysisResult) -> None:
        """Nothing: the client writes the run's results and report."""
