"""Small studies and helpers for the service tests: DICOM series zipped in memory, tiny checkpoints, polling,
and a ``ctangel serve`` subprocess."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import httpx
import numpy as np
import pytest
from pydicom.uid import CTImageStorage, MRImageStorage, generate_uid

from ctangel.models.checkpoint import write_untrained_pair
from ctangel.synthetic.ct_dicom import ct_slice_dataset, dataset_bytes

TOKEN: Final = "test-token-0123456789abcdef"
AUTH: Final = {"Authorization": f"Bearer {TOKEN}"}
#: Identifying attributes written into every test file; the logs must never show them.
PATIENT_NAME: Final = "Doe^Jane"
PATIENT_BIRTH_DATE: Final = "19610203"
PATIENT_ID: Final = "PAT-SERVICE-7"
#: Tiny networks: the results mean nothing, the plumbing is real.
TINY_FEATURES: Final = (4, 4, 8, 8, 16, 4)
TINY_SIDE: Final = 32
SIDE: Final = 64
#: Limits of the shared in-process server: small, so that the limit tests stay fast.
MAX_UPLOAD_BYTES: Final = 16 * 1024 * 1024
MAX_UNZIPPED_BYTES: Final = 32 * 1024 * 1024
MAX_ZIP_FILES: Final = 100


def tiny_checkpoints(folder: Path) -> tuple[Path, Path]:
    """Write a fresh lung and lesion checkpoint of :data:`TINY_FEATURES`; returns their paths."""
    return write_untrained_pair(folder, TINY_FEATURES, TINY_SIDE)


def chest_hu(k: int, side: int = SIDE) -> np.ndarray:
    """A side x side chest-like slice in HU: air, a body, two lungs, a dense blob that moves with ``k``."""
    rows, cols = np.mgrid[:side, :side] / side
    hu = np.full((side, side), -1000.0)
    hu[((rows - 0.5) / 0.4) ** 2 + ((cols - 0.5) / 0.45) ** 2 < 1] = 40.0
    for c in (0.3, 0.7):
        hu[((rows - 0.5) / 0.25) ** 2 + ((cols - c) / 0.14) ** 2 < 1] = -850.0
    hu[(rows - 0.45 - 0.01 * (k % 5)) ** 2 + (cols - 0.3) ** 2 < 0.004] = -400.0
    return hu


def dicom_slice(k: int, series_uid: str, study_uid: str, side: int = SIDE, modality: str = "CT") -> bytes:
    """One DICOM file (preamble, file meta) of a CT slice, or of an MR image when ``modality="MR"``."""
    ds = ct_slice_dataset(
        (chest_hu(k, side) + 1024.0).astype(np.int16),
        sop_uid=generate_uid(),
        study_uid=study_uid,
        series_uid=series_uid,
        patient_id=PATIENT_ID,
        patient_name=PATIENT_NAME,
        position=(0.0, 0.0, -5.0 * k),
        pixel_spacing=(0.7, 0.7),
        slice_thickness=5.0,
        instance=k + 1,
        modality=modality,
        sop_class=CTImageStorage if modality == "CT" else MRImageStorage,
        attributes={"PatientBirthDate": PATIENT_BIRTH_DATE, "SeriesDescription": "Chest"},
    )
    return dataset_bytes(ds)


def dicom_files(n_slices: int, side: int = SIDE, modality: str = "CT") -> list[tuple[str, bytes]]:
    """``(name, bytes)`` of a DICOM series."""
    series, study = generate_uid(), generate_uid()
    return [(f"IM{k + 1:05d}.dcm", dicom_slice(k, series, study, side, modality)) for k in range(n_slices)]


def zip_bytes(entries: list[tuple[str, bytes]], folder: str = "series") -> bytes:
    """A zip holding ``entries`` under ``folder/``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(f"{folder}/{name}" if folder else name, data)
    return buf.getvalue()


def dicom_zip(n_slices: int = 6, side: int = SIDE, modality: str = "CT") -> bytes:
    """A zip of a DICOM folder: ``series/IM00001.dcm`` ..."""
    return zip_bytes(dicom_files(n_slices, side, modality))


def wait_for(
    get: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool], timeout_s: float
) -> dict[str, Any]:
    """Poll ``get()`` until ``done`` holds for what it returns; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = get()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s; last seen {value}")
        time.sleep(0.05)


def finished(job: dict[str, Any]) -> bool:
    """Whether a job's status is final."""
    return job["status"] in ("done", "failed")


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: Seconds a `ctangel serve` subprocess may take to answer.
START_TIMEOUT_S: Final = 60


def ctangel_command() -> Path:
    """The installed ``ctangel`` script (the test skips where the package is not installed)."""
    path = Path(sys.executable).parent / "ctangel"
    if not path.is_file():
        pytest.skip(f"{path} is absent: install the package (make setup) to test `ctangel serve`")
    return path


@contextmanager
def serve(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start the server in its own process group (its workers join it), wait until it answers."""
    env = {**os.environ, "CTANGEL_TOKEN": TOKEN}
    with log.open("ab") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        port = args[args.index("--port") + 1]
        wait_for(lambda: _health(port), lambda ok: ok["up"] or proc.poll() is not None, START_TIMEOUT_S)
        assert proc.poll() is None, log.read_text()
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def wait_job(api: httpx.Client, job_id: str) -> dict[str, Any]:
    """Poll a job over HTTP until its status is final."""
    return wait_for(lambda: api.get(f"/api/jobs/{job_id}").json(), finished, 120)


def _health(port: str) -> dict[str, bool]:
    """Whether the server on ``port`` answers."""
    try:
        return {"up": httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200}
    except httpx.HTTPError:
        return {"up": False}
