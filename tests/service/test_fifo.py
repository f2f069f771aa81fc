"""Jobs run in order of arrival: several uploads queued back to back start and finish in that order."""

from __future__ import annotations

import itertools
from typing import Any

from fastapi.testclient import TestClient
from service_studies import dicom_zip, finished, wait_for

JOBS = 5


def wait_job(client: TestClient, job_id: str) -> dict[str, Any]:
    return wait_for(lambda: client.get(f"/api/jobs/{job_id}").json(), finished, 120)


def test_jobs_run_in_arrival_order(client: TestClient) -> None:
    study = dicom_zip(8)
    ids = []
    for k in range(JOBS):
        response = client.post("/api/studies", files={"file": (f"study-{k}.zip", study)})
        assert response.status_code == 202
        ids.append(response.json()["job_id"])
    jobs = [wait_job(client, j) for j in ids]
    assert [j["status"] for j in jobs] == ["done"] * JOBS
    created = [j["created"] for j in jobs]
    assert created == sorted(created)
    started = [j["started"] for j in jobs]
    ended = [j["finished"] for j in jobs]
    assert started == sorted(started) and ended == sorted(ended)
    for before, after in itertools.pairwise(jobs):
        assert after["started"] >= before["finished"]  # one worker: a job starts when the one before it ends
