"""One way to write a CT slice as DICOM: the phantom and the tests' synthetic files all come from here.

:func:`ct_slice_dataset` builds a CT Image Storage dataset (file meta, preamble, patient and study identity,
geometry, rescale, pixel data) from stored values; callers add or change whatever their case needs (the
phantom its scanner attributes, a test a missing position or a non-CT SOP class) before saving it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian

#: Row and column directions of an axial slice (ImageOrientationPatient).
AXIAL: Final = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
#: Bytes of the DICOM file preamble.
PREAMBLE_BYTES: Final = 128


def ct_slice_dataset(
    stored: npt.NDArray[np.integer],
    *,
    sop_uid: str,
    study_uid: str,
    series_uid: str,
    patient_id: str,
    patient_name: str = "",
    position: Sequence[float] | None = (0.0, 0.0, 0.0),
    orientation: Sequence[float] | None = AXIAL,
    pixel_spacing: Sequence[float] = (1.0, 1.0),
    slice_thickness: float | None = None,
    instance: int | None = 1,
    series_number: int = 1,
    slope: float = 1.0,
    intercept: float = -1024.0,
    modality: str = "CT",
    sop_class: str = CTImageStorage,
    bits_stored: int | None = None,
    attributes: Mapping[str, object] | None = None,
) -> FileDataset:
    """A single-frame greyscale slice holding ``stored`` (int16 or uint16, ``(rows, cols)``) as stored values;
    HU = stored x ``slope`` + ``intercept``.

    Args:
        stored: the stored pixel values, ``(rows, cols)``.
        sop_uid: the instance's UID (also the file meta's).
        study_uid: StudyInstanceUID.
        series_uid: SeriesInstanceUID.
        patient_id: PatientID.
        patient_name: PatientName.
        position: ImagePositionPatient in mm (None: left out).
        orientation: ImageOrientationPatient (None: left out).
        pixel_spacing: PixelSpacing, mm between rows then between columns.
        slice_thickness: SliceThickness in mm (None: left out).
        instance: InstanceNumber (None: left out).
        series_number: SeriesNumber.
        slope: RescaleSlope.
        intercept: RescaleIntercept.
        modality: Modality.
        sop_class: the SOP class (CT Image Storage unless a test needs another).
        bits_stored: BitsStored (default: the array's bits).
        attributes: more attributes by keyword, set last (the phantom's scanner and dates).
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * PREAMBLE_BYTES)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.Modality = modality
    ds.SeriesNumber = series_number
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    if instance is not None:
        ds.InstanceNumber = instance
    if position is not None:
        ds.ImagePositionPatient = [float(p) for p in position]
    if orientation is not None:
        ds.ImageOrientationPatient = [float(c) for c in orientation]
    ds.PixelSpacing = [float(s) for s in pixel_spacing]
    if slice_thickness is not None:
        ds.SliceThickness = slice_thickness
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    raw = np.ascontiguousarray(stored)
    ds.set_pixel_data(raw, "MONOCHROME2", bits_stored or raw.dtype.itemsize * 8, generate_instance_uid=False)
    for keyword, value in (attributes or {}).items():
        setattr(ds, keyword, value)
    return ds


def save_dataset(ds: FileDataset, path: Path) -> Path:
    """Write ``ds`` as a DICOM file (preamble, file meta) at ``path``; its folder is created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def dataset_bytes(ds: FileDataset) -> bytes:
    """``ds`` as the bytes of a DICOM file."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
