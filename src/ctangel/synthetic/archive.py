"""An archive of phantom studies: one phantom written as several patients' DICOM series (cluster tests, bench)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

import pydicom
from pydicom.uid import generate_uid

from ctangel.synthetic.dicom_writer import write_dicom_series
from ctangel.synthetic.phantom import make_phantom

#: PatientID of patient ``k`` of an archive.
ARCHIVE_PATIENT_ID: Final = "PAT-{}"
#: Folder of study ``j`` of patient ``k``, under the archive's root.
ARCHIVE_STUDY_DIR: Final = "P{}/S{}"


def write_phantom_archive(root: str | Path, studies: Sequence[int], slices: int, seed: int = 0) -> list[Path]:
    """Write one phantom as ``root/P<k>/S<j>/IM*.dcm``: ``studies[k]`` studies of patient ``PAT-<k>``.

    Every copy has its own study, series and instance UIDs (random), so that discovery finds one study per
    copy; the pixels are the same in all, so every study's findings are the same. The phantom's series is
    first written to ``root/.phantom/`` (a hidden folder, which discovery skips).

    Returns:
        the study folders, patient by patient.

    Raises:
        ConfigError: ``slices`` is out of the phantom's range.
        InputError: a folder or file cannot be written.
    """
    root = Path(root)
    files = write_dicom_series(make_phantom(slices, seed), root / ".phantom")
    datasets = [pydicom.dcmread(path) for path in files]
    folders = []
    for k, count in enumerate(studies):
        for j in range(count):
            folder = root / ARCHIVE_STUDY_DIR.format(k, j)
            folder.mkdir(parents=True, exist_ok=True)
            study_uid, series_uid = generate_uid(), generate_uid()
            for path, ds in zip(files, datasets, strict=True):
                ds.PatientID = ARCHIVE_PATIENT_ID.format(k)
                ds.StudyInstanceUID = study_uid
                ds.SeriesInstanceUID = series_uid
                ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
                ds.save_as(folder / path.name, enforce_file_format=True)
            folders.append(folder)
    return folders
