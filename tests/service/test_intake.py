"""Upload checks without a server: sniffing by content and safe unpacking."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from service_studies import dicom_slice, dicom_zip, zip_bytes

from ctangel.service.intake import FileKind, UploadError, UploadLimits, extract_zip, sniff

LIMITS = UploadLimits(max_unzipped_bytes=10 * 1024 * 1024, max_files=10)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (dicom_zip(1), FileKind.zip),
        (dicom_slice(0, "1.2.3", "1.2.4"), FileKind.dicom),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), FileKind.png),
        (b"\xff\xd8\xff\xe0" + bytes(100), FileKind.jpeg),
        (b"hello world", None),
        (b"", None),
    ],
)
def test_sniff(tmp_path: Path, data: bytes, kind: FileKind | None) -> None:
    assert sniff(write(tmp_path, "upload.bin", data)) == kind  # the name says nothing


def test_sniff_nifti(tmp_path: Path) -> None:
    import gzip

    import nibabel as nib
    import numpy as np

    raw = nib.Nifti1Image(np.zeros((4, 4, 2), dtype=np.int16), np.eye(4)).to_bytes()
    assert sniff(write(tmp_path, "a", raw)) == FileKind.nifti
    assert sniff(write(tmp_path, "b", gzip.compress(raw))) == FileKind.nifti_gz


def test_extract_zip_keeps_folders(tmp_path: Path) -> None:
    path = write(tmp_path, "s.zip", zip_bytes([("a/IM1.dcm", b"one"), ("a/b/IM2.dcm", b"two")]))
    out = tmp_path / "out"
    assert extract_zip(path, out, LIMITS) == 2
    assert (out / "series" / "a" / "b" / "IM2.dcm").read_bytes() == b"two"


def test_zip_slip_writes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "s.zip", zip_bytes([("ok.dcm", b"fine"), ("../../escaped.dcm", b"bad")], folder=""))
    out = tmp_path / "deep" / "out"
    with pytest.raises(UploadError) as err:
        extract_zip(path, out, LIMITS)
    assert err.value.status == 400
    assert not (tmp_path / "escaped.dcm").exists() and not out.exists()


def test_too_many_files(tmp_path: Path) -> None:
    path = write(tmp_path, "s.zip", zip_bytes([(f"{k}.dcm", b"x") for k in range(11)]))
    with pytest.raises(UploadError) as err:
        extract_zip(path, tmp_path / "out", LIMITS)
    assert err.value.status == 413


def test_directory_entries_are_fine(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.mkdir("series")
        zf.writestr("series/IM1.dcm", b"x")
    assert extract_zip(write(tmp_path, "s.zip", buf.getvalue()), tmp_path / "out", LIMITS) == 1


def test_zip_that_zipfile_cannot_read_is_400(tmp_path: Path) -> None:
    """Found by ``make fuzz``: a central directory claiming a second disk made zipfile raise NotImplementedError."""
    data = (
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00u\xaa\x81]\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\n\x00\x00\x00"
        b"series/IM2\x03\x00PK\x01\x02\x14\x03T\x00\x00\x00\x08\x00u\xaa\x81]\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00"
        b"\x00\x00\n\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x01\x00\x00\x00\x00series/IM2PK\x05\x06\x00\x00"
        b"\x00\x00\x01\x00\x01\x008\x00\x00\x00*\x00\x00\x00\x00\x00"
    )
    path = tmp_path / "upload"
    path.write_bytes(data)
    with pytest.raises(UploadError) as caught:
        extract_zip(path, tmp_path / "out", UploadLimits(1024 * 1024, 10), "odd.zip")
    assert caught.value.status == 400 and "odd.zip" in caught.value.detail
