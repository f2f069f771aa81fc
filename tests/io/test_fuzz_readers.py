"""Property tests of the readers on mutated DICOM, NIfTI, PNG and JPEG: a result, or one InputError naming
the file; never another exception; memory bounded. ``make fuzz`` runs the same with 10,000 cases each."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz_inputs import (
    FUZZ_SETTINGS,
    JPEG_SEED,
    PNG16_SEED,
    PNG_SEED,
    check_reader,
    mutated_dicom,
    mutated_image,
    mutated_nifti,
    save_counts,
    write,
)


@pytest.fixture(scope="module", autouse=True)
def _counts() -> Iterator[None]:
    yield
    save_counts()


@FUZZ_SETTINGS
@given(data=mutated_dicom(), name=st.sampled_from(["slice.dcm", "IM0001"]))
def test_dicom(data: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        check_reader(write(Path(folder), name, data), "dicom")


@FUZZ_SETTINGS
@given(case=mutated_nifti())
def test_nifti(case: tuple[bytes, bool]) -> None:
    data, compress = case
    with tempfile.TemporaryDirectory() as folder:
        name = "volume.nii.gz" if compress else "volume.nii"
        check_reader(write(Path(folder), name, data, compress), "nifti")


@FUZZ_SETTINGS
@given(data=mutated_image(PNG_SEED) | mutated_image(PNG16_SEED))
def test_png(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        check_reader(write(Path(folder), "slice.png", data), "png")


@FUZZ_SETTINGS
@given(data=mutated_image(JPEG_SEED))
def test_jpeg(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        check_reader(write(Path(folder), "slice.jpg", data), "jpeg")
