"""A real ``ctangel serve``, killed with -9 (server and workers) in the middle of a job, then started again:
the interrupted job and the one queued behind it both finish, in order, and no patient data reached the log."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from service_studies import (
    AUTH,
    PATIENT_BIRTH_DATE,
    PATIENT_ID,
    PATIENT_NAME,
    START_TIMEOUT_S,
    ctangel_command,
    dicom_files,
    dicom_zip,
    finished,
    free_port,
    serve,
    wait_for,
    wait_job,
    zip_bytes,
)

#: Slices of the job that is killed: enough that it is still running when the test sees it start.
LONG_STUDY_SLICES = 160


@pytest.mark.slow
def test_kill_9_mid_job_loses_nothing(tmp_path: Path, tiny_models: tuple[Path, Path]) -> None:
    lung, lesion = tiny_models
    port = free_port()
    log = tmp_path / "serve.log"
    args = [
        str(ctangel_command()), "serve", "--port", str(port), "--data-dir", str(tmp_path / "data"),
        "--lung-model", str(lung), "--lesion-model", str(lesion), "--backend", "torch", "--threads", "1",
    ]  # fmt: skip
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=60)
    # The patient's name in the zip's folder name too: it must not reach the log through paths either.
    long_study = zip_bytes(dicom_files(LONG_STUDY_SLICES), folder=PATIENT_NAME.replace("^", "_"))
    with serve(args, log) as first:
        long_id = api.post("/api/studies", files={"file": ("long.zip", long_study)}).json()["job_id"]
        short_id = api.post("/api/studies", files={"file": ("short.zip", dicom_zip(4))}).json()["job_id"]
        seen = wait_for(
            lambda: api.get(f"/api/jobs/{long_id}").json(),
            lambda j: j["status"] == "running" or finished(j),
            START_TIMEOUT_S,
        )
        assert seen["status"] == "running", "the long job ended before it could be interrupted; make it longer"
        os.killpg(first.pid, signal.SIGKILL)  # the server and its workers, mid-job
        first.wait()
    time.sleep(0.5)
    with serve(args, log):
        jobs = [wait_job(api, j) for j in (long_id, short_id)]
    assert [j["status"] for j in jobs] == ["done", "done"], jobs
    long_job, short_job = jobs
    assert long_job["attempts"] == 2  # taken, interrupted, taken again
    assert long_job["summary"]["slices"] == LONG_STUDY_SLICES
    assert short_job["started"] >= long_job["finished"]  # still first in, first out
    text = log.read_text(errors="replace")
    assert long_id in text and "back in the queue" in text
    for secret in (PATIENT_NAME, PATIENT_NAME.replace("^", "_"), "Doe", PATIENT_BIRTH_DATE, PATIENT_ID):
        assert secret not in text
