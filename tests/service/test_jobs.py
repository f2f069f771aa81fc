"""The job service from Python, without HTTP or worker processes: the same pipeline as ``ctangel analyze``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_studies import dicom_zip

from ctangel.inference import AnalysisSettings, Pipeline
from ctangel.service import JobService, ServiceConfig
from ctangel.service.intake import UploadError
from ctangel.service.worker import Worker


@pytest.fixture
def service(tmp_path: Path, settings: AnalysisSettings) -> Iterator[JobService]:
    config = ServiceConfig(data_dir=tmp_path / "data", token="python-api-token-0123", analysis=settings)
    jobs = JobService(config)
    jobs.open()
    yield jobs
    jobs.close()


def test_submit_and_run_in_process(service: JobService, settings: AnalysisSettings, tmp_path: Path) -> None:
    upload = tmp_path / "study.zip"
    upload.write_bytes(dicom_zip(5))
    job = service.submit_paths([upload])
    assert (job.status, job.n_slices, job.filename) == ("queued", 5, "study.zip")
    assert Worker(service.config, should_stop=lambda: False, store=service.store).run_next()
    done = service.get(job.id)
    assert done.status == "done" and done.progress == 1.0
    results = json.loads(service.results_path(job.id).read_text())
    # What `ctangel analyze` finds on the same files (its pipeline, its settings), slice for slice.
    direct = Pipeline(settings).analyze([service.layout.input(job.id)])
    ours = [s["lesion_probability"] for s in results["patients"][0]["studies"][0]["slices"]]
    theirs = [round(s.lesion_probability, 4) for s in direct.patients[0].studies[0].slices]
    assert ours == theirs
    assert service.slice_image(job.id, 0, 4, overlay=True).is_file()


def test_second_server_on_one_folder_is_refused(service: JobService) -> None:
    from ctangel.errors import ConfigError

    other = JobService(service.config)
    with pytest.raises(ConfigError, match="another ctangel server"):
        other.open()


def test_upload_limit_from_python(service: JobService, tmp_path: Path) -> None:
    from dataclasses import replace

    small = JobService(replace(service.config, max_upload_bytes=100))
    path = tmp_path / "study.zip"
    path.write_bytes(dicom_zip(2))
    with pytest.raises(UploadError) as err:
        small.submit_paths([path])
    assert err.value.status == 413
    assert list(service.layout.tmp.iterdir()) == []  # nothing left behind


def test_restart_requeues_interrupted_jobs(service: JobService, tmp_path: Path) -> None:
    upload = tmp_path / "study.zip"
    upload.write_bytes(dicom_zip(2))
    job = service.submit_paths([upload])
    assert service.store.claim_next("gone", 12345) is not None  # a worker takes it, then the server dies
    orphan = service.layout.jobs / ("f" * 32)
    orphan.mkdir()  # an upload renamed into place whose row never got written
    service.close()
    service.open()
    assert service.get(job.id).status == "queued"
    assert not orphan.exists()


def test_deleting_a_running_job_logs_no_error(
    service: JobService, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DELETE arrives while the worker is between two chunks: its files stay until it stops, so no read fails."""
    import logging

    upload = tmp_path / "study.zip"
    upload.write_bytes(dicom_zip(40))
    job = service.submit_paths([upload])
    worker = Worker(service.config, should_stop=lambda: False, store=service.store)
    real = service.store.set_progress
    calls = {"n": 0}

    def delete_during_the_run(job_id: str, claim: str, progress: float) -> bool:
        calls["n"] += 1
        if calls["n"] == 2:  # after the first chunk of slices
            service.delete(job_id)
            assert service.layout.job(job_id).is_dir()  # left to the worker
        return real(job_id, claim, progress)

    monkeypatch.setattr(service.store, "set_progress", delete_during_the_run)
    caplog.set_level(logging.INFO)
    assert worker.run_next()
    assert calls["n"] == 2
    assert not service.layout.job(job.id).exists()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
