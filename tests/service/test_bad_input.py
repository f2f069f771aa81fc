"""Bad input gets a 4xx with a clear message, and the server goes on answering afterwards."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit
from service_studies import (
    MAX_UNZIPPED_BYTES,
    MAX_UPLOAD_BYTES,
    MAX_ZIP_FILES,
    dicom_files,
    dicom_slice,
    dicom_zip,
    finished,
    wait_for,
    zip_bytes,
)

from hostile import bomb_png

MIB = 1024 * 1024


def post(client: TestClient, content: bytes, name: str) -> tuple[int, str]:
    response = client.post("/api/studies", files={"file": (name, content, "application/octet-stream")})
    return response.status_code, str(response.json().get("detail", ""))


@pytest.fixture(autouse=True)
def server_still_answers(client: TestClient) -> Iterator[None]:
    yield
    assert client.get("/api/jobs").status_code == 200


def symlink_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("series/link.dcm")
        info.create_system = 3
        info.external_attr = (0o120777 << 16) | 0
        zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def lying_zip() -> bytes:
    """A deflated 2 MiB entry whose central directory claims 1000 bytes."""
    data = bytearray(zip_bytes([("IM1.dcm", bytes(range(256)) * (8 * 1024))]))
    at = data.rfind(b"PK\x01\x02")
    data[at + 24 : at + 28] = struct.pack("<I", 1000)
    return bytes(data)


def corrupt_zip() -> bytes:
    data = bytearray(dicom_zip(2))
    data[200:260] = bytes(60)  # inside the first entry's compressed bytes
    return bytes(data)


def truncated_png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()[:-200]


def nifti_gz(truncate: bool) -> bytes:
    import nibabel as nib

    noise = np.random.default_rng(0).integers(-1000, 400, (32, 32, 4), dtype=np.int16)
    image = nib.Nifti1Image(noise, np.eye(4))
    raw = gzip.compress(image.to_bytes())
    return raw[: len(raw) // 2] if truncate else raw


@pytest.mark.parametrize(
    ("name", "content", "status", "words"),
    [
        ("notes.txt", b"hello, not a study\n" * 20, 415, "not a zip, DICOM, NIfTI or image"),
        ("study.zip", b"\x00\x01garbage" * 100, 415, "judged by its content"),
        ("plain.gz", gzip.compress(b"not a nifti" * 100), 415, "not a zip"),
        ("cut.zip", dicom_zip(3)[:-400], 400, "not a readable zip"),
        ("bad.zip", corrupt_zip(), 400, "damaged"),
        ("slip.zip", zip_bytes([("../evil.dcm", dicom_slice(0, "1.2.3", "1.2.4"))], folder=""), 400, "escapes"),
        ("slip2.zip", zip_bytes([("a/../../evil.dcm", b"x")], folder=""), 400, "escapes"),
        ("abs.zip", zip_bytes([("/tmp/evil.dcm", b"x")], folder=""), 400, "absolute"),
        ("win.zip", zip_bytes([("C:\\evil.dcm", b"x")], folder=""), 400, "absolute"),
        ("back.zip", zip_bytes([("..\\evil.dcm", b"x")], folder=""), 400, "escapes"),
        ("link.zip", symlink_zip(), 400, "symbolic link"),
        ("dup.zip", zip_bytes([("a.dcm", b"x"), ("A.dcm", b"y")]), 400, "two entries"),
        ("lying.zip", lying_zip(), 400, "damaged"),
        ("bomb.zip", zip_bytes([("zeros.dcm", bytes(MAX_UNZIPPED_BYTES + MIB))]), 413, "unpack"),
        ("ratio.zip", zip_bytes([("zeros.dcm", bytes(5 * MIB))]), 413, "zip bomb"),
        ("many.zip", zip_bytes([(f"f{k}.txt", b"x") for k in range(MAX_ZIP_FILES + 1)]), 413, "files"),
        ("empty.zip", zip_bytes([]), 422, "no files"),
        ("text.zip", zip_bytes([("readme.txt", b"nothing here")]), 422, "nothing to analyse"),
        ("mr.zip", dicom_zip(2, modality="MR"), 422, "not a CT image"),
        ("mr.dcm", dicom_files(1, modality="MR")[0][1], 422, "not a CT image"),
        ("cut.dcm", dicom_files(1)[0][1][:-3000], 422, "truncated"),
        ("cut.png", truncated_png(), 400, "truncated"),
        ("cut.nii.gz", nifti_gz(truncate=True), 400, "truncated"),
    ],
)
def test_rejected(client: TestClient, name: str, content: bytes, status: int, words: str) -> None:
    code, detail = post(client, content, name)
    assert code == status, detail
    assert words.lower() in detail.lower()
    assert "/tmp/" not in detail.replace("'/tmp/evil.dcm'", "")  # no server path in the message


def test_nifti_gz_accepted(client: TestClient) -> None:
    code, detail = post(client, nifti_gz(truncate=False), "volume.nii.gz")
    assert code == 202, detail


def test_over_upload_limit_by_length(client: TestClient) -> None:
    code, detail = post(client, bytes(MAX_UPLOAD_BYTES + 2 * MIB), "big.zip")
    assert code == 413 and "limit" in detail


def test_over_upload_limit_streamed(client: TestClient) -> None:
    """Without Content-Length (chunked), the server stops reading at the limit."""
    boundary = "xyzzy"

    def body() -> Iterator[bytes]:
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.zip"\r\n\r\n'.encode()
        for _ in range(MAX_UPLOAD_BYTES // MIB + 2):
            yield bytes(MIB)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post(
        "/api/studies", content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"content": b"raw bytes", "headers": {"Content-Type": "application/zip"}}, 415),
        ({"data": {"note": "no file"}, "files": {"other": ("a.zip", b"x")}}, 400),
        ({"data": {"note": "no file"}}, 415),  # urlencoded form
        (
            {
                "content": b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n\r\nPK\x03\x04',
                "headers": {"Content-Type": "multipart/form-data; boundary=b"},
            },
            400,
        ),
    ],
)
def test_malformed_requests(client: TestClient, kwargs: dict[str, object], status: int) -> None:
    response = client.post("/api/studies", **kwargs)
    assert response.status_code == status, response.text


def test_zip_must_come_alone(client: TestClient) -> None:
    files = [("file", ("a.zip", dicom_zip(2))), ("file", ("b.dcm", dicom_files(1)[0][1]))]
    response = client.post("/api/studies", files=files)
    assert response.status_code == 400 and "alone" in response.json()["detail"]


def test_failing_job_says_why_and_the_next_goes_on(client: TestClient) -> None:
    """A file that passes the upload checks but cannot be decoded fails its job; the next job is done."""
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(dicom_files(1)[0][1]))
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xe0 not really a jpeg \xff\xd9"])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelRepresentation = 0
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    code, detail = post(client, buf.getvalue(), "broken.dcm")
    assert code == 202, detail
    bad = client.get("/api/jobs").json()["jobs"][0]["job_id"]
    good = client.post("/api/studies", files={"file": ("good.zip", dicom_zip(2))}).json()["job_id"]
    failed = wait_for(lambda: client.get(f"/api/jobs/{bad}").json(), finished, 60)
    assert failed["status"] == "failed" and failed["error"] and "broken" in failed["error"]
    assert client.get(f"/api/jobs/{bad}/results").status_code == 409
    done = wait_for(lambda: client.get(f"/api/jobs/{good}").json(), finished, 60)
    assert done["status"] == "done"


@pytest.mark.parametrize("side", [30000, 12000])
def test_bare_bomb_png_is_413(client: TestClient, side: int) -> None:
    code, detail = post(client, bomb_png(side, side), "bomb.png")
    assert code == 413, detail
    assert "bomb.png" in detail and "pixels per image" in detail


@pytest.mark.parametrize("side", [30000, 12000])
def test_bomb_png_in_a_zip_alone_is_a_4xx_with_a_reason(client: TestClient, side: int) -> None:
    code, detail = post(client, zip_bytes([("bomb.png", bomb_png(side, side))]), "bomb.zip")
    assert code == 422, detail
    assert "bomb.png" in detail and "over the limit" in detail


def test_bomb_png_beside_a_series_is_a_warning_and_the_series_is_analysed(client: TestClient) -> None:
    entries = [*dicom_files(2), ("pictures/bomb.png", bomb_png(12000, 12000))]
    response = client.post("/api/studies", files={"file": ("mixed.zip", zip_bytes(entries))})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["n_studies"] == 1 and any("bomb.png" in w and "over the limit" in w for w in body["warnings"])
    job = wait_for(lambda: client.get(f"/api/jobs/{body['job_id']}").json(), finished, 60)
    assert job["status"] == "done"


def test_nan_volume_fails_its_job_with_a_reason(client: TestClient) -> None:
    import nibabel as nib

    data = np.full((16, 16, 2), np.nan, np.float32)
    code, detail = post(client, gzip.compress(nib.Nifti1Image(data, np.eye(4)).to_bytes()), "holes.nii.gz")
    assert code == 202, detail
    job_id = client.get("/api/jobs").json()["jobs"][0]["job_id"]
    job = wait_for(lambda: client.get(f"/api/jobs/{job_id}").json(), finished, 60)
    assert job["status"] == "failed" and "NaN or infinite" in job["error"]
