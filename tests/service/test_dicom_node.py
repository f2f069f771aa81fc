"""The DICOM node: a series sent with C-STORE (pynetdicom's SCU, dcmtk's storescu) becomes a job, non-CT
instances are refused one by one, and the job's SEG comes back to a test SCP. Loopback only, bounded waits."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pydicom
import pytest
from fastapi.testclient import TestClient
from service_studies import AUTH

from ctangel.errors import ConfigError
from ctangel.service import ServiceConfig, create_app
from ctangel.service.dicom_node import (
    STATUS_REFUSED_SOP_CLASS,
    STATUS_SUCCESS,
    DicomDestination,
    DicomNodeConfig,
)

SLICES = 8
#: Longest wait for a job or a SEG, seconds (tiny models: seconds on an idle machine; the bound is for a
#: shared, busy one).
WAIT_S = 300.0
SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from ctangel.synthetic.dicom_writer import write_dicom_series
    from ctangel.synthetic.phantom import make_phantom

    return write_dicom_series(make_phantom(SLICES, 1), tmp_path_factory.mktemp("node") / "series")


class SegCatcher:
    """A Storage SCP for SEG objects on loopback: the test's PACS."""

    def __init__(self) -> None:
        from pynetdicom import AE, evt

        self.received: list[pydicom.Dataset] = []
        self.port = free_port()
        ae = AE(ae_title="TESTPACS")
        ae.add_supported_context(SEG_STORAGE)
        self.server = ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, self._store)]
        )
        self.arrived = threading.Event()

    def _store(self, event: Any) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        self.received.append(ds)
        self.arrived.set()
        return STATUS_SUCCESS

    def wait(self, n: int) -> None:
        end = time.monotonic() + WAIT_S
        while len(self.received) < n and time.monotonic() < end:
            self.arrived.wait(0.2)
        assert len(self.received) >= n, f"{len(self.received)} SEG object(s) arrived in {WAIT_S} s, {n} expected"


@pytest.fixture(scope="module")
def rle_series(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The same kind of series, RLE Lossless compressed (what a scanner may send)."""
    from ctangel.synthetic.dicom_writer import write_dicom_series
    from ctangel.synthetic.options import Compression
    from ctangel.synthetic.phantom import make_phantom

    return write_dicom_series(make_phantom(SLICES, 3), tmp_path_factory.mktemp("node-rle") / "series", Compression.rle)


@pytest.fixture(scope="module")
def node(
    service_config: ServiceConfig, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, int, SegCatcher]]:
    catcher = SegCatcher()
    port = free_port()
    config = replace(
        service_config,
        data_dir=tmp_path_factory.mktemp("node-data"),
        dicom=DicomNodeConfig(port, "CTANGEL", "127.0.0.1", DicomDestination("TESTPACS", "127.0.0.1", catcher.port)),
    )
    with TestClient(create_app(config), headers=AUTH) as client:
        yield client, port, catcher
    catcher.server.shutdown()


def wait_for_jobs(client: TestClient, n: int) -> list[dict[str, Any]]:
    end = time.monotonic() + WAIT_S
    while time.monotonic() < end:
        jobs = client.get("/api/jobs").json()["jobs"]
        if len(jobs) >= n and all(j["status"] in ("done", "failed") for j in jobs):
            return list(jobs)
        time.sleep(0.2)
    raise AssertionError(f"fewer than {n} finished jobs after {WAIT_S} s: {jobs}")


def test_destination_is_ae_at_host_port() -> None:
    assert DicomDestination.parse("PACS@10.0.0.5:104") == DicomDestination("PACS", "10.0.0.5", 104)
    for bad in ("PACS", "PACS@host", "@host:104", "PACS@host:99999"):
        with pytest.raises(ConfigError):
            DicomDestination.parse(bad)


@pytest.mark.slow
def test_pynetdicom_scu_series_becomes_a_job_and_its_seg_comes_back(
    node: tuple[TestClient, int, SegCatcher], series: list[Path], tmp_path: Path
) -> None:
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage, SecondaryCaptureImageStorage  # type: ignore[attr-defined]

    client, port, catcher = node
    before = len(catcher.received)
    ae = AE(ae_title="SCANNER")
    ae.add_requested_context(CTImageStorage)
    ae.add_requested_context(SecondaryCaptureImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title="CTANGEL")
    assert assoc.is_established
    statuses = [int(assoc.send_c_store(pydicom.dcmread(p)).Status) for p in series]
    other = pydicom.dcmread(series[0])
    other.SOPClassUID = SecondaryCaptureImageStorage
    other.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    other.SOPInstanceUID = pydicom.uid.generate_uid()
    refused = int(assoc.send_c_store(other).Status)
    assoc.release()
    assert statuses == [STATUS_SUCCESS] * SLICES
    assert refused == STATUS_REFUSED_SOP_CLASS

    (job,) = wait_for_jobs(client, 1)
    assert job["status"] == "done", job
    results = client.get(f"/api/jobs/{job['job_id']}/results").json()
    study = results["patients"][0]["studies"][0]
    assert study["n_slices"] == SLICES and study["anatomy"]["regions_method"] == "lobes"
    assert study["outputs"]["dicom_seg"].startswith("dicom_seg/")
    download = client.get(f"/api/jobs/{job['job_id']}/output/{study['outputs']['dicom_seg']}")
    assert download.status_code == 200 and download.content[128:132] == b"DICM"
    for chart in study["outputs"]["charts"]:
        svg = client.get(f"/api/jobs/{job['job_id']}/output/{chart}")
        assert svg.status_code == 200 and svg.text.startswith("<svg")

    catcher.wait(before + 1)
    seg = catcher.received[-1]
    assert seg.SOPClassUID == SEG_STORAGE
    assert seg.StudyInstanceUID == pydicom.dcmread(series[0]).StudyInstanceUID
    lesion_px = sum(r["lesion_px"] for r in study["anatomy"]["regions"])
    assert len(seg.SegmentSequence) == 10 and lesion_px >= 0


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("storescu") is None, reason="dcmtk's storescu is not installed (.ci/run installs it)")
def test_dcmtk_storescu_compressed_series_becomes_a_job(
    node: tuple[TestClient, int, SegCatcher], rle_series: list[Path]
) -> None:
    client, port, catcher = node
    n_before = len(client.get("/api/jobs").json()["jobs"])
    run = subprocess.run(
        [
            "storescu",
            "--propose-rle",
            "-aet",
            "STORESCU",
            "-aec",
            "CTANGEL",
            "127.0.0.1",
            str(port),
            *map(str, rle_series),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    jobs = wait_for_jobs(client, n_before + 1)
    assert jobs[0]["status"] == "done" and jobs[0]["n_slices"] == SLICES
    catcher.wait(n_before + 1)
    assert pydicom.dcmread(rle_series[0]).file_meta.TransferSyntaxUID == pydicom.uid.RLELossless
