"""The job service from Python, without HTTP or worker processes: the same pipeline as ``ctangel analyze``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from service_studies import dicom_zip

from ctangel.inference import AnalysisSettings, Pipeline
from ctangel.service import JobService, ServiceConfig
from ctangel.service.intake import UploadError
from ctangel.service.worker import Worker


def open_service(tmp_path: Path, settings: AnalysisSettings, **config: Any) -> JobService:
    jobs = JobService(
        ServiceConfig(data_dir=tmp_path / "data", token="python-api-token-0123", analysis=settings, **config)
    )
    jobs.open()
    return jobs


@pytest.fixture
def service(tmp_path: Path, settings: AnalysisSettings) -> Iterator[JobService]:
    """A job service that keeps uploaded inputs for an hour (so that a test can analyse them again)."""
    jobs = open_service(tmp_path, settings, keep_inputs_s=3600.0)
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


def test_inputs_are_deleted_when_the_job_ends_and_results_kept(tmp_path: Path, settings: AnalysisSettings) -> None:
    jobs = open_service(tmp_path, settings)
    try:
        upload = tmp_path / "study.zip"
        upload.write_bytes(dicom_zip(3))
        job = jobs.submit_paths([upload])
        assert jobs.layout.input(job.id).is_dir()
        assert Worker(jobs.config, should_stop=lambda: False, store=jobs.store).run_next()
        assert jobs.get(job.id).status == "done"
        assert not jobs.layout.input(job.id).exists()
        assert jobs.results_path(job.id).is_file() and jobs.slice_image(job.id, 0, 0, overlay=False).is_file()
    finally:
        jobs.close()


def test_inputs_kept_for_the_set_time(service: JobService, tmp_path: Path) -> None:
    upload = tmp_path / "study.zip"
    upload.write_bytes(dicom_zip(2))
    job = service.submit_paths([upload])
    worker = Worker(service.config, should_stop=lambda: False, store=service.store)
    assert worker.run_next()
    finished_at = service.get(job.id).finished_at
    assert finished_at is not None and service.layout.input(job.id).is_dir()
    assert worker.expire_inputs(now=finished_at + 3599.0) == []
    assert worker.expire_inputs(now=finished_at + 3600.0) == [job.id]
    assert not service.layout.input(job.id).exists() and service.results_path(job.id).is_file()


def test_deidentified_job_names_no_patient(
    tmp_path: Path, settings: AnalysisSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service_studies import PATIENT_ID, PATIENT_NAME, dicom_files, zip_bytes

    from ctangel.io.deidentify import DEIDENTIFY_KEY_ENV

    monkeypatch.setenv(DEIDENTIFY_KEY_ENV, "a-test-key-of-enough-length")
    jobs = open_service(tmp_path, settings, deidentify=True)
    try:
        folder = PATIENT_NAME.replace("^", "_")
        entries = [*dicom_files(2), ("notes/broken.dcm", b"\0" * 128 + b"DICM" + b"\0" * 10)]
        upload = tmp_path / f"{folder}.zip"
        upload.write_bytes(zip_bytes(entries, folder=folder))
        job = jobs.submit_paths([upload])
        assert Worker(jobs.config, should_stop=lambda: False, store=jobs.store).run_next()
        done = jobs.get(job.id)
        assert done.status == "done", done.error
        texts = [done.filename, *done.warnings, jobs.results_path(job.id).read_text()]
        texts.append(jobs.output_file(job.id, "report.html").read_text())
        texts += [str(p.relative_to(jobs.layout.job(job.id))) for p in jobs.layout.job(job.id).rglob("*")]
        for text in texts:
            for secret in (PATIENT_ID, folder, "Doe", "broken"):
                assert secret not in text
        patient = json.loads(jobs.results_path(job.id).read_text())["patients"][0]["patient_id"]
        assert patient.startswith("patient-") and len(patient) == len("patient-") + 16
    finally:
        jobs.close()
