"""Property tests of the upload path (sniffing, unpacking, checking, discovery): a prepared job, or one
UploadError with a 4xx status and a reason; never another exception; memory bounded."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctangel.service.intake import ReceivedFile, UploadError, UploadLimits, prepare_input
from fuzz_inputs import (
    FUZZ_SETTINGS,
    MAX_RSS_BYTES,
    NIFTI_SEED,
    PNG_SEED,
    count,
    hostile_zip,
    mutated_bytes,
    mutated_dicom,
    peak_rss_bytes,
    save_counts,
    write,
)

LIMITS = UploadLimits(max_unzipped_bytes=8 * 1024 * 1024, max_files=50)


@pytest.fixture(scope="module", autouse=True)
def _counts() -> Iterator[None]:
    yield
    save_counts()


def check_upload(files: list[tuple[str, bytes]], reader: str) -> None:
    count(reader)
    with tempfile.TemporaryDirectory() as folder:
        received = [
            ReceivedFile(write(Path(folder), f"part-{k}", data), name, len(data))
            for k, (name, data) in enumerate(files)
        ]
        try:
            prepared = prepare_input(received, Path(folder) / "input", LIMITS)
        except UploadError as exc:
            assert 400 <= exc.status < 500 or exc.status == HTTPStatus.INSUFFICIENT_STORAGE, exc.status
            assert exc.detail and "\n" not in exc.detail
            assert folder not in exc.detail  # no server path in the answer
        else:
            assert prepared.n_studies >= 1 and prepared.n_slices >= 1
    assert peak_rss_bytes() < MAX_RSS_BYTES


@FUZZ_SETTINGS
@given(data=hostile_zip())
def test_zip_upload(data: bytes) -> None:
    check_upload([("study.zip", data)], "upload-zip")


@FUZZ_SETTINGS
@given(
    files=st.lists(
        st.tuples(
            st.sampled_from(["a.dcm", "b", "v.nii", "v.nii.gz", "s.png", "../x.dcm", ""]),
            mutated_dicom() | mutated_bytes(NIFTI_SEED) | mutated_bytes(PNG_SEED),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_file_upload(files: list[tuple[str, bytes]]) -> None:
    check_upload(files, "upload-files")
