"""Analysis of an archive on a Dask cluster (``ctangel analyze --scheduler`` / ``--workers``), resumable.

One task per study: each worker loads the models once (:class:`PipelinePlugin`), analyses a study with the
same :class:`~ctangel.inference.Pipeline` as a single-process run, writes its outputs under the shared
output folder through the same :class:`~ctangel.report.OutputWriter`, atomically, and records it as done
last (:class:`RunStore`). The client makes the patient calls and writes results.json and report.html.

Needs the ``cluster`` extra (dask, distributed); nothing here is imported by ``import ctangel``.
"""

from __future__ import annotations

from ctangel.distributed.run import ClusterObserver, ClusterOptions, ClusterOutcome, analyze_on_cluster, study_key
from ctangel.distributed.store import RunStore, StudyRecord
from ctangel.distributed.worker import OutputOptions, PipelinePlugin

__all__ = [
    "ClusterObserver",
    "ClusterOptions",
    "ClusterOutcome",
    "OutputOptions",
    "PipelinePlugin",
    "RunStore",
    "StudyRecord",
    "analyze_on_cluster",
    "study_key",
]
