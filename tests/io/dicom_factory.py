"""Tiny synthetic DICOM files for the io tests: CT slices, non-CT objects, compressed pixel data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from jpeg_lossless import encode_jpeg_lossless
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    UID,
    ComprehensiveSRStorage,
    ExplicitVRLittleEndian,
    JPEGLosslessSV1,
    MediaStorageDirectoryStorage,
    generate_uid,
)

from ctangel.synthetic.ct_dicom import AXIAL, ct_slice_dataset, save_dataset

STUDY_UID: Final = "1.2.826.0.1.3680043.8.498.1"
PATIENT_ID: Final = "PAT-7"
#: Identifying attributes written into every file; tests check that they never reach a log.
PATIENT_NAME: Final = "Doe^Jane"
PATIENT_BIRTH_DATE: Final = "19610203"


def _file_dataset(sop_class: str, sop_uid: str | None = None) -> FileDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid or generate_uid())
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = PATIENT_NAME
    ds.PatientBirthDate = PATIENT_BIRTH_DATE
    ds.PatientID = PATIENT_ID
    ds.StudyInstanceUID = STUDY_UID
    return ds


def ct_slice(
    raw: npt.NDArray[np.integer],
    *,
    series_uid: str,
    position: Sequence[float] | None = (0.0, 0.0, 0.0),
    orientation: Sequence[float] | None = AXIAL,
    pixel_spacing: Sequence[float] = (0.5, 0.75),
    instance: int | None = 1,
    slope: float = 1.0,
    intercept: float = -1024.0,
    series_number: int = 1,
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "AXIAL"),
    bits_stored: int | None = None,
    sop_uid: str | None = None,
) -> FileDataset:
    """A CT Image Storage slice holding ``raw`` (int16 or uint16) as stored values."""
    ds = ct_slice_dataset(
        raw,
        sop_uid=sop_uid or generate_uid(),
        study_uid=STUDY_UID,
        series_uid=series_uid,
        patient_id=PATIENT_ID,
        patient_name=PATIENT_NAME,
        position=position,
        orientation=orientation,
        pixel_spacing=pixel_spacing,
        slice_thickness=1.25,
        instance=instance,
        series_number=series_number,
        slope=slope,
        intercept=intercept,
        bits_stored=bits_stored or 16,
        attributes={
            "Manufacturer": "ACME",
            "ManufacturerModelName": "Scan 1",
            "SeriesDescription": "Chest 1mm",
            "ImageType": list(image_type),
            "PatientBirthDate": PATIENT_BIRTH_DATE,
        },
    )
    return ds


def save(ds: FileDataset, path: Path) -> Path:
    """Write ``ds`` as a DICOM file (preamble, file meta) at ``path``."""
    return save_dataset(ds, path)


def jpeg_lossless_sv1(ds: FileDataset) -> FileDataset:
    """Re-encode ``ds``'s native pixel data as JPEG Lossless SV1 (1.2.840.10008.1.2.4.70) in place."""
    raw = ds.pixel_array
    unsigned = raw.view(np.uint16) if raw.dtype == np.int16 else raw
    if ds.PixelRepresentation == 1:
        unsigned = unsigned & ((1 << ds.BitsStored) - 1)  # the stored bits only, as a JPEG sample
    frame = encode_jpeg_lossless(unsigned, int(ds.BitsStored))
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    return ds


def sr_object(series_uid: str) -> FileDataset:
    """A Comprehensive SR document (no pixels): a DICOM object that is not a CT image."""
    ds = _file_dataset(ComprehensiveSRStorage)
    ds.Modality = "SR"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = 99
    return ds


def dicomdir() -> FileDataset:
    """A minimal DICOMDIR (an index with no records)."""
    ds = _file_dataset(MediaStorageDirectoryStorage)
    del ds.SOPClassUID, ds.SOPInstanceUID, ds.PatientName, ds.PatientBirthDate, ds.PatientID
    del ds.StudyInstanceUID
    ds.FileSetID = "TEST"
    ds.DirectoryRecordSequence = []
    return ds


def patient_grid(
    display: npt.NDArray[np.integer],
    orientation: Sequence[float],
    *,
    x0: float = -20.0,
    y0: float = -30.0,
    dx: float = 0.75,
    dy: float = 0.5,
) -> tuple[npt.NDArray[np.integer], tuple[float, float], tuple[float, float]]:
    """Store a display-oriented slice under another ImageOrientationPatient, covering the same patient grid.

    Display pixel ``(i, j)`` lies at LPS ``(x0 + j dx, y0 + i dy)``; ``orientation`` must have its row and
    column vectors along the patient's x and y axes (either sign).

    Returns:
        ``(stored, (ipp_x, ipp_y), pixel_spacing)`` with pixel_spacing ``(between rows, between columns)``.
    """
    u = np.asarray(orientation[:3])
    v = np.asarray(orientation[3:])
    rows, cols = display.shape
    extent = {0: (cols, dx, x0), 1: (rows, dy, y0)}  # patient axis -> (count, spacing, start)
    u_axis, v_axis = int(np.argmax(np.abs(u))), int(np.argmax(np.abs(v)))
    n_cols, du, _ = extent[u_axis]
    n_rows, dv, _ = extent[v_axis]
    ipp = np.zeros(3)
    for vector, axis in ((u, u_axis), (v, v_axis)):
        count, step, start = extent[axis]
        ipp[axis] = start if vector[axis] > 0 else start + (count - 1) * step
    r, c = np.mgrid[0:n_rows, 0:n_cols]
    points = ipp[:, None, None] + c * du * u[:, None, None] + r * dv * v[:, None, None]
    j = np.rint((points[0] - x0) / dx).astype(int)
    i = np.rint((points[1] - y0) / dy).astype(int)
    return display[i, j], (float(ipp[0]), float(ipp[1])), (dv, du)
