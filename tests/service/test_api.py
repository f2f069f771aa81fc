"""The REST API in-process, with a real worker process and tiny models: auth, the upload-to-results round
trip, the viewer's images, downloads, listing and deleting."""

from __future__ import annotations

import io
import logging
import zipfile
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from service_studies import (
    PATIENT_BIRTH_DATE,
    PATIENT_ID,
    PATIENT_NAME,
    TOKEN,
    dicom_files,
    dicom_zip,
    finished,
    wait_for,
    zip_bytes,
)

from ctangel.service import ServiceConfig
from ctangel.service.auth import COOKIE_NAME

JOB_TIMEOUT_S = 60


def submit(client: TestClient, content: bytes, name: str = "study.zip") -> dict[str, Any]:
    response = client.post("/api/studies", files={"file": (name, content, "application/octet-stream")})
    assert response.status_code == 202, response.text
    return dict(response.json())


def wait_done(client: TestClient, job_id: str) -> dict[str, Any]:
    return wait_for(lambda: client.get(f"/api/jobs/{job_id}").json(), finished, JOB_TIMEOUT_S)


@pytest.fixture(scope="module")
def done_job(client: TestClient) -> dict[str, Any]:
    """A zipped 6-slice DICOM series, analysed."""
    submitted = submit(client, dicom_zip(6))
    assert (submitted["n_studies"], submitted["n_slices"], submitted["n_files"]) == (1, 6, 6)
    job = wait_done(client, submitted["job_id"])
    assert job["status"] == "done", job
    return job


# --- auth --------------------------------------------------------------------------------------------


def test_no_token_is_401(client: TestClient) -> None:
    bare = TestClient(client.app)
    for method, path in (("GET", "/api/jobs"), ("POST", "/api/studies"), ("GET", "/api/jobs/" + "0" * 32)):
        response = bare.request(method, path)
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"] == "Bearer"


def test_wrong_token_is_401(client: TestClient) -> None:
    bare = TestClient(client.app)
    assert bare.get("/api/jobs", headers={"Authorization": "Bearer not-the-token-at-all"}).status_code == 401
    assert bare.get("/api/jobs", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    bare.cookies.set(COOKIE_NAME, "not-the-token-at-all")
    assert bare.get("/api/jobs").status_code == 401


def test_cookie_login(client: TestClient) -> None:
    bare = TestClient(client.app)
    assert bare.post("/api/login", json={"token": "wrong-token-wrong-token"}).status_code == 401
    response = bare.post("/api/login", json={"token": TOKEN})
    assert response.status_code == 204
    cookie = response.headers["set-cookie"]
    assert f"{COOKIE_NAME}=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert bare.get("/api/jobs").status_code == 200
    assert bare.post("/api/logout").status_code == 204
    bare.cookies.clear()
    assert bare.get("/api/jobs").status_code == 401


def test_public_pages(client: TestClient) -> None:
    bare = TestClient(client.app)
    assert bare.get("/api/health").json() == {"status": "ok"}
    page = bare.get("/")
    assert page.status_code == 200 and "ctangel" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert bare.get("/static/app.js").status_code == 200
    schema = bare.get("/api/openapi.json").json()
    for path in ("/api/studies", "/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/results"):
        assert path in schema["paths"]
    assert "JobInfo" in schema["components"]["schemas"]


# --- round trip --------------------------------------------------------------------------------------


def test_upload_runs_to_done(client: TestClient, done_job: dict[str, Any]) -> None:
    assert done_job["progress"] == 1.0
    assert done_job["error"] is None
    assert done_job["filename"] == "study.zip"
    assert done_job["started"] is not None and done_job["finished"] >= done_job["started"] >= done_job["created"]
    assert done_job["summary"]["slices"] == 6 and done_job["summary"]["patients"] == 1


def test_results_validate(client: TestClient, done_job: dict[str, Any], results_schema: dict) -> None:
    response = client.get(f"/api/jobs/{done_job['job_id']}/results")
    assert response.status_code == 200
    results = response.json()
    study = results["patients"][0]["studies"][0]
    assert study["n_slices"] == 6
    assert study["outputs"]["viewer"] == {"study": 0, "slices": 6}
    assert study["input"].startswith("input/")  # relative to the job: no server path in the results
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(results, results_schema)


def test_slice_images(client: TestClient, done_job: dict[str, Any]) -> None:
    base = f"/api/jobs/{done_job['job_id']}/studies/0/slices"
    for overlay in (0, 1):
        response = client.get(f"{base}/3.png", params={"overlay": overlay})
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(response.content)).size == (64, 64)
    assert client.get(f"{base}/6.png").status_code == 404
    assert client.get(f"/api/jobs/{done_job['job_id']}/studies/1/slices/0.png").status_code == 404


def test_downloads(client: TestClient, done_job: dict[str, Any]) -> None:
    base = f"/api/jobs/{done_job['job_id']}/output"
    report = client.get(f"{base}/report.html", params={"download": 1})
    assert report.status_code == 200 and "attachment" in report.headers["content-disposition"]
    assert "<html" in report.text.lower()
    masks = client.get(f"{base}/masks.zip")
    assert masks.status_code == 200
    assert any(n.endswith(".nii.gz") for n in zipfile.ZipFile(io.BytesIO(masks.content)).namelist())
    assert client.get(f"{base}/results.json").json()["patients"]
    assert client.get(f"{base}/../../../token").status_code == 404
    assert client.get(f"{base}/%2e%2e/%2e%2e/token").status_code == 404


def test_list_and_delete(client: TestClient) -> None:
    job_id = submit(client, dicom_zip(3))["job_id"]
    listed = client.get("/api/jobs").json()["jobs"]
    assert job_id in [j["job_id"] for j in listed]
    wait_done(client, job_id)
    assert client.delete(f"/api/jobs/{job_id}").status_code == 204
    assert client.get(f"/api/jobs/{job_id}").status_code == 404
    assert client.delete(f"/api/jobs/{job_id}").status_code == 404
    assert job_id not in [j["job_id"] for j in client.get("/api/jobs").json()["jobs"]]
    assert client.get("/api/jobs/not-a-job-id").status_code == 404


def test_results_of_unfinished_job_are_409(client: TestClient) -> None:
    job_id = submit(client, dicom_zip(3))["job_id"]
    response = client.get(f"/api/jobs/{job_id}/results")
    if client.get(f"/api/jobs/{job_id}").json()["status"] != "done":
        assert response.status_code in (200, 409)
    wait_done(client, job_id)
    assert client.get(f"/api/jobs/{job_id}/results").status_code == 200


def test_several_files_make_one_study(client: TestClient) -> None:
    files = [("file", (name, data, "application/dicom")) for name, data in dicom_files(4)]
    response = client.post("/api/studies", files=files)
    assert response.status_code == 202, response.text
    assert response.json()["n_slices"] == 4 and response.json()["n_files"] == 4
    job = wait_done(client, response.json()["job_id"])
    assert job["status"] == "done" and job["filename"] == "IM00001.dcm (+3 more)"


def test_single_png_image(client: TestClient) -> None:
    buf = io.BytesIO()
    Image.new("L", (48, 40), 90).save(buf, format="PNG")
    job_id = submit(client, buf.getvalue(), "slice.png")["job_id"]
    job = wait_done(client, job_id)
    assert job["status"] == "done", job
    results = client.get(f"/api/jobs/{job_id}/results").json()
    assert results["patients"][0]["studies"][0]["kind"] == "uint8"


def test_delete_running_job(client: TestClient, service_config: ServiceConfig) -> None:
    job_id = submit(client, dicom_zip(64))["job_id"]
    seen = wait_for(lambda: client.get(f"/api/jobs/{job_id}").json(), lambda j: j["status"] != "queued", 60)
    assert client.delete(f"/api/jobs/{job_id}").status_code == 204
    assert client.get(f"/api/jobs/{job_id}").status_code == 404
    folder = service_config.layout.job(job_id)
    wait_for(lambda: {"exists": folder.exists()}, lambda f: not f["exists"], 30)  # the worker stopped and cleaned
    assert seen["status"] in ("running", "done")
    after = submit(client, dicom_zip(2))["job_id"]
    assert wait_done(client, after)["status"] == "done"  # the worker goes on


def test_no_patient_data_in_logs(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """The upload's paths carry the patient's name (as exported folders often do) and hold a non-CT object
    that discovery logs as skipped: none of it reaches the log."""
    caplog.set_level(logging.DEBUG)
    folder = PATIENT_NAME.replace("^", "_")
    entries = [*dicom_files(3), ("MR0001.dcm", dicom_files(1, modality="MR")[0][1])]
    job_id = submit(client, zip_bytes(entries, folder=folder))["job_id"]
    wait_done(client, job_id)
    text = caplog.text
    assert job_id in text  # the service logs job ids ...
    for secret in (PATIENT_NAME, folder, "Doe", PATIENT_BIRTH_DATE, PATIENT_ID):
        assert secret not in text  # ... never what identifies the patient
