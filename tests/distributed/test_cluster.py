"""Analysis on a local Dask cluster of two worker processes: same results as one process, resumable, and
every study done exactly once when a worker is killed in the middle of one."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

pytest.importorskip("distributed")
#: Two worker processes start, load the models and read 512 x 512 slices: tens of seconds on two cores.
pytestmark = pytest.mark.slow

from typer.testing import CliRunner  # noqa: E402

from ctangel.cli.main import app  # noqa: E402
from ctangel.distributed import ClusterObserver, ClusterOptions, RunStore, analyze_on_cluster  # noqa: E402
from ctangel.distributed.worker import PROGRESS_TOPIC  # noqa: E402
from ctangel.inference import AnalysisSettings, Pipeline  # noqa: E402
from ctangel.inference.pipeline import CHUNK_SLICES  # noqa: E402
from ctangel.report import OutputWriter  # noqa: E402
from ctangel.synthetic.archive import write_phantom_archive  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

#: The results.json schema, beside the checkout (validated when present).
SCHEMA = Path(__file__).resolve().parents[2].parent / "shared" / "results.schema.json"
#: Slices per study (the phantom's fewest).
SLICES = 8
#: Slices per study where a worker is killed: two chunks of the pipeline, so that it dies between them.
LONG_SLICES = CHUNK_SLICES + 1


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two patients, the second with two studies: three studies of the phantom."""
    root = tmp_path_factory.mktemp("tree") / "archive"
    write_phantom_archive(root, studies=(1, 2), slices=SLICES)
    return root


@pytest.fixture(scope="module")
def long_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three studies of two chunks each."""
    root = tmp_path_factory.mktemp("long") / "archive"
    write_phantom_archive(root, studies=(1, 2), slices=LONG_SLICES)
    return root


@pytest.fixture(scope="module")
def settings(tiny_models: tuple[Path, Path]) -> AnalysisSettings:
    lung, lesion = tiny_models
    return AnalysisSettings(lung_model=str(lung), lesion_model=str(lesion), threads=1)


@pytest.fixture(scope="module")
def single(tree: Path, settings: AnalysisSettings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """results.json of the single-process run."""
    writer = OutputWriter(tmp_path_factory.mktemp("single"), settings.window)
    Pipeline(settings).analyze([tree], sink=writer)
    return json.loads(writer.results_path.read_text())


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local


class Counter(ClusterObserver):
    """Counts what the progress bar would show."""

    def __init__(self) -> None:
        self.total = 0
        self.shown = 0
        self.patients: list[str] = []

    def planned(self, studies: int, slices: int, done_studies: int, done_slices: int) -> None:
        self.total, self.shown = slices, done_slices

    def slices(self, n: int) -> None:
        self.shown += n

    def patient(self, result: Any) -> None:
        self.patients.append(result.patient_id)


def without_timings(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "timings_s"}


def study_keys(doc: dict[str, Any]) -> list[str]:
    return [s["input"] for p in doc["patients"] for s in p["studies"]]


def test_two_workers_give_the_single_process_results_and_resume(
    tree: Path,
    settings: AnalysisSettings,
    single: dict[str, Any],
    cluster: LocalCluster,
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    counter = Counter()
    options = ClusterOptions(scheduler=cluster.scheduler_address)
    outcome = analyze_on_cluster([tree], out, settings, cluster=options, observer=counter)
    doc = json.loads((out / "results.json").read_text())
    if SCHEMA.is_file():
        jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    assert without_timings(doc) == without_timings(single)
    assert len(study_keys(doc)) == 3 and outcome.analysed == 3 and outcome.resumed == 0
    assert counter.shown == counter.total == 3 * SLICES
    assert sorted(counter.patients) == ["PAT-0", "PAT-1"]
    assert (out / "report.html").is_file()
    assert not (out / ".ctangel" / "staging").exists()
    store = RunStore(out)
    assert len(store.committed_keys()) == 3

    # A re-run analyses nothing; one whose record was cut short (or is missing) is analysed again.
    again = CliRunner().invoke(
        app,
        ["analyze", str(tree), "--out", str(out), "--scheduler", cluster.scheduler_address, "--threads", "1",
         "--lung-model", settings.lung_model, "--lesion-model", settings.lesion_model],
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "studies: 0 analysed, 3 done by an earlier run" in again.output
    records = sorted(store.records_dir.glob("*.json"))
    records[0].write_text(records[0].read_text()[:100])
    records[1].unlink()
    (store.staging_root / "leftover.1234").mkdir(parents=True)
    third = analyze_on_cluster([tree], out, settings, cluster=options, observer=Counter())
    assert (third.analysed, third.resumed) == (2, 1)
    assert without_timings(json.loads((out / "results.json").read_text())) == without_timings(single)
    assert len(store.committed_keys()) == 5
    assert not store.staging_root.exists()


def test_a_bad_study_is_recorded_and_the_others_go_on(
    tree: Path, settings: AnalysisSettings, cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    shutil.copytree(tree, tmp_path / "archive")
    monkeypatch.chdir(tmp_path)  # a relative input: reported as given, read by workers whose folder differs
    victim = Path("archive/P1/S1/IM000005.dcm")

    class RemoveAFile(Counter):
        def planned(self, studies: int, slices: int, done_studies: int, done_slices: int) -> None:
            super().planned(studies, slices, done_studies, done_slices)
            victim.unlink()  # after discovery: the worker finds it gone

    options = ClusterOptions(scheduler=cluster.scheduler_address)
    outcome = analyze_on_cluster(["archive"], Path("out"), settings, cluster=options, observer=RemoveAFile())
    (error,) = outcome.result.errors
    assert error["input"] == str(victim) and "no such file" in error["error"]
    assert [len(p.studies) for p in outcome.result.patients] == [1, 1]
    assert [s.input for p in outcome.result.patients for s in p.studies] == ["archive/P0/S0", "archive/P1/S0"]
    assert len(RunStore(Path("out")).committed_keys()) == 2


def test_a_worker_killed_mid_study_loses_only_that_study(
    long_tree: Path, settings: AnalysisSettings, cluster: LocalCluster, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    store = RunStore(out)
    killed: list[tuple[str, bool]] = []
    with Client(cluster.scheduler_address) as spy:
        pids = spy.run(os.getpid)
        lock = threading.Lock()

        def kill_first(event: tuple[float, dict[str, Any]]) -> None:
            _, msg = event
            with lock:
                if killed:
                    return
                os.kill(pids[msg["worker"]], signal.SIGKILL)
                killed.append((msg["key"], store.record_path(msg["key"]).exists()))

        spy.subscribe_topic(PROGRESS_TOPIC, kill_first)
        counter = Counter()
        outcome = analyze_on_cluster(
            [long_tree], out, settings, cluster=ClusterOptions(scheduler=cluster.scheduler_address), observer=counter
        )
    ((key, was_done),) = killed
    assert not was_done  # killed in the middle of the study: its first chunk was done, its record not written
    assert sorted(store.committed_keys()) == sorted(p.name.removesuffix(".json") for p in store.records_dir.iterdir())
    assert len(store.committed_keys()) == 3 and key in store.committed_keys()
    assert outcome.result.errors == []
    assert counter.shown == counter.total == 3 * LONG_SLICES
    entries = [s for p in outcome.result.to_dict()["patients"] for s in p["studies"]]
    findings = [[(x["positive"], x["lesion_area_px"], x["lung_area_px"]) for x in s["slices"]] for s in entries]
    assert all(f == findings[0] for f in findings)  # the same phantom in each: the retried study agrees
