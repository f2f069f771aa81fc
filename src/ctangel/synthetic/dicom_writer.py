"""Write a phantom as a DICOM CT series, with its ground truth in a sibling folder.

Layout under the output folder ``OUT``::

    OUT/series/IM000001.dcm ...     one CT Image Storage file per slice, head to feet
    OUT/truth/labels/IM000001.png   lesion mask per slice (0/255, 512 x 512, CT-Angel's label layout)
    OUT/truth/lungs/IM000001.png    lung mask per slice (0/255)
    OUT/truth/slices.csv            source,label,patient: per slice, 1 when it holds lesion pixels
    OUT/truth/lesions.json          the lesion list (centre, radius, kind, slice range) and the geometry

The truth lies beside the series, not in it, so analysing ``OUT/series`` sees the DICOM files alone.
``source`` in ``slices.csv`` is the DICOM file's path relative to ``OUT`` (``series/IM000001.dcm``).
Files are identical from run to run for the same slice count, seed and compression: UIDs derive from
them, and no date or time of writing goes in.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
    generate_uid,
)

from ctangel.constants import LUNG_WINDOW_LEVEL_HU, LUNG_WINDOW_WIDTH_HU, MASK_BACKGROUND, MASK_FOREGROUND
from ctangel.errors import InputError
from ctangel.log import logger
from ctangel.synthetic.ct_dicom import ct_slice_dataset
from ctangel.synthetic.options import Compression
from ctangel.synthetic.phantom import Phantom

# --- layout ----------------------------------------------------------------------------------------
SERIES_DIR: Final = "series"
TRUTH_DIR: Final = "truth"
LABELS_DIR: Final = "labels"
LUNGS_DIR: Final = "lungs"
SLICES_CSV: Final = "slices.csv"
LESIONS_JSON: Final = "lesions.json"
FILE_STEM: Final = "IM{:06d}"
DICOM_SUFFIX: Final = ".dcm"
LABEL_SUFFIX: Final = ".png"

# --- identity --------------------------------------------------------------------------------------
PATIENT_ID: Final = "CTANGEL-PHANTOM"
PATIENT_NAME: Final = "Phantom^Synthetic"
MANUFACTURER: Final = "ctangel synthetic phantom"
STUDY_DESCRIPTION: Final = "Synthetic chest CT phantom (ctangel), not a patient"
#: A fixed study date and time: the files must not change from run to run.
STUDY_DATE: Final = "20200301"
STUDY_TIME: Final = "120000"
#: Bump when the generated images change, so that new images get new UIDs.
PHANTOM_VERSION: Final = "1"

# --- pixel encoding --------------------------------------------------------------------------------
RESCALE_INTERCEPT: Final = -1024
RESCALE_SLOPE: Final = 1
BITS: Final = 16
#: Patient coordinate (mm, DICOM: toward the head) of the top of the scan; slices go down from it.
SCAN_TOP_Z_MM: Final = 0.0
#: Digits after the point in positions and spacings (DICOM decimal strings hold at most 16 characters).
DS_DECIMALS: Final = 6
#: Loggers of encoders that report every frame at INFO level; held at WARNING while writing.
ENCODER_LOGGERS: Final = ("openjpeg",)
#: The scanner settings written for realism.
KVP: Final = "120"


#: Transfer syntax for each compression choice.
TRANSFER_SYNTAX: Final[dict[Compression, UID]] = {
    Compression.none: ExplicitVRLittleEndian,
    Compression.rle: RLELossless,
    Compression.jpeg2000: JPEG2000Lossless,
}


@dataclass(frozen=True)
class PhantomFiles:
    """What :func:`write_phantom` wrote.

    Args:
        root: the output folder.
        series_dir: the folder holding the DICOM files alone.
        dicom_files: the slices' files, head to feet.
        truth_dir: the folder holding the ground truth.
    """

    root: Path
    series_dir: Path
    dicom_files: list[Path]
    truth_dir: Path


def write_phantom(phantom: Phantom, out: str | Path, compression: Compression = Compression.none) -> PhantomFiles:
    """Write ``phantom`` as ``out/series/`` (DICOM) and ``out/truth/`` (masks, CSV, JSON).

    Earlier ``IM*.dcm`` and mask files of the same layout that this run does not rewrite (a run with more
    slices, say) are removed, so the series never mixes two phantoms.

    Raises:
        InputError: a folder or file cannot be written.
    """
    root = Path(out)
    series_dir = root / SERIES_DIR
    truth_dir = root / TRUTH_DIR
    files = write_dicom_series(phantom, series_dir, compression)
    sources = [f.relative_to(root).as_posix() for f in files]
    write_truth(phantom, truth_dir, sources)
    logger.debug("phantom: wrote %d slices to %s and the ground truth to %s", len(files), series_dir, truth_dir)
    return PhantomFiles(root, series_dir, files, truth_dir)


def write_dicom_series(phantom: Phantom, folder: str | Path, compression: Compression = Compression.none) -> list[Path]:
    """Write one CT Image Storage file per slice into ``folder`` (``IM000001.dcm`` is the top slice).

    Stored values are int16 ``HU - RescaleIntercept`` (intercept -1024, slope 1). Positions run from head to
    feet, z decreasing, with ImageOrientationPatient ``1,0,0,0,1,0`` (the volume's display orientation).

    Returns:
        the files written, head to feet.

    Raises:
        InputError: the folder or a file cannot be written.
    """
    folder = Path(folder)
    names = [FILE_STEM.format(i + 1) + DICOM_SUFFIX for i in range(phantom.n_slices)]
    _prepare(folder, names, "IM*" + DICOM_SUFFIX)
    series = _series_dataset(phantom)
    syntax = TRANSFER_SYNTAX[Compression(compression)]
    paths = []
    with _quiet(ENCODER_LOGGERS):
        for i, name in enumerate(names):
            stored = (phantom.hu[i].astype(np.int32) - RESCALE_INTERCEPT).astype(np.int16)
            ds = ct_slice_dataset(
                stored,
                sop_uid=_uid(phantom, "instance", str(i)),
                study_uid=series.StudyInstanceUID,
                series_uid=series.SeriesInstanceUID,
                patient_id=PATIENT_ID,
                patient_name=PATIENT_NAME,
                position=None,
                orientation=None,
                instance=i + 1,
                slope=RESCALE_SLOPE,
                intercept=RESCALE_INTERCEPT,
                attributes=_slice_attributes(phantom, series, i),
            )
            if syntax != ExplicitVRLittleEndian:
                ds.compress(syntax, stored, generate_instance_uid=False)
            path = folder / name
            _guarded(path, partial(_save_dataset, ds))
            paths.append(path)
    return paths


def write_truth(phantom: Phantom, folder: str | Path, sources: list[str]) -> None:
    """Write the lesion and lung masks (one PNG per slice), ``slices.csv`` and ``lesions.json``.

    Args:
        phantom: the phantom.
        folder: the truth folder (created).
        sources: per slice, the DICOM file's path as ``slices.csv`` should name it.

    Raises:
        InputError: a file cannot be written.
    """
    folder = Path(folder)
    stems = [Path(s).stem for s in sources]
    for sub, volume in ((LABELS_DIR, phantom.lesion_mask), (LUNGS_DIR, phantom.lung_mask)):
        names = [stem + LABEL_SUFFIX for stem in stems]
        _prepare(folder / sub, names, "IM*" + LABEL_SUFFIX)
        for i, name in enumerate(names):
            image = np.where(volume[i], MASK_FOREGROUND, MASK_BACKGROUND).astype(np.uint8)
            _guarded(folder / sub / name, partial(_save_png, image))
    positive = [bool(v) for v in np.asarray(phantom.lesion_mask.any(axis=(1, 2)))]

    def write_csv(path: Path) -> None:
        with open(path, "w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["source", "label", "patient"])
            for source, hit in zip(sources, positive, strict=True):
                writer.writerow([source, int(hit), PATIENT_ID])

    _guarded(folder / SLICES_CSV, write_csv)
    _guarded(
        folder / LESIONS_JSON,
        lambda p: p.write_text(json.dumps(_truth_json(phantom, sources), indent=2) + "\n"),
    )


def _truth_json(phantom: Phantom, sources: list[str]) -> dict[str, object]:
    ranges = phantom.slice_ranges()
    lesions = []
    for lesion in phantom.lesions:
        entry = lesion.to_dict()
        s, r, c = phantom.centre_voxel(lesion)
        entry["centre_voxel"] = {"slice": round(s, 2), "row": round(r, 2), "col": round(c, 2)}
        entry["radius_px"] = round(lesion.radius_mm / phantom.pixel_spacing_mm, 2)
        first, last = ranges.get(lesion.label, (None, None))
        entry["first_slice"], entry["last_slice"] = first, last
        entry["first_source"] = None if first is None else sources[first]
        entry["last_source"] = None if last is None else sources[last]
        lesions.append(entry)
    return {
        "patient": PATIENT_ID,
        "seed": phantom.seed,
        "slices": phantom.n_slices,
        "pixel_spacing_mm": phantom.pixel_spacing_mm,
        "slice_spacing_mm": phantom.slice_spacing_mm,
        "orientation": "display: row 0 the patient's front, the patient's left on the image's right, "
        "slice 0 the most superior; centre_mm x to the patient's left, y to the back from the image centre, "
        "z from the top of the scan toward the feet",
        "positive_slices": int(phantom.lesion_mask.any(axis=(1, 2)).sum()),
        "lung_slices": int(phantom.lung_mask.any(axis=(1, 2)).sum()),
        "lesions": lesions,
    }


def _uid(phantom: Phantom, *parts: str) -> UID:
    return generate_uid(
        entropy_srcs=[
            "ctangel-phantom",
            PHANTOM_VERSION,
            f"seed={phantom.seed}",
            f"slices={phantom.n_slices}",
            *parts,
        ]
    )


def _ds(value: float) -> str:
    text = f"{value:.{DS_DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _series_dataset(phantom: Phantom) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = STUDY_DATE
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = STUDY_TIME
    ds.AccessionNumber = ""
    ds.Modality = "CT"
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = "ctangel"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = STUDY_DESCRIPTION
    ds.SeriesDescription = (
        f"Synthetic chest CT phantom, {_ds(phantom.slice_spacing_mm)} mm, seed {phantom.seed} (not a patient)"
    )[:64]
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.BodyPartExamined = "CHEST"
    ds.SliceThickness = _ds(phantom.slice_spacing_mm)
    ds.SpacingBetweenSlices = _ds(phantom.slice_spacing_mm)
    ds.KVP = KVP
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = _uid(phantom, "study")
    ds.SeriesInstanceUID = _uid(phantom, "series")
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.AcquisitionNumber = 1
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID = _uid(phantom, "frame-of-reference")
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    rows, cols = phantom.hu.shape[1:]
    ds.Rows = rows
    ds.Columns = cols
    ds.PixelSpacing = [_ds(phantom.pixel_spacing_mm), _ds(phantom.pixel_spacing_mm)]
    ds.BitsAllocated = BITS
    ds.BitsStored = BITS
    ds.HighBit = BITS - 1
    ds.PixelRepresentation = 1
    ds.WindowCenter = _ds(LUNG_WINDOW_LEVEL_HU)
    ds.WindowWidth = _ds(LUNG_WINDOW_WIDTH_HU)
    ds.RescaleIntercept = str(RESCALE_INTERCEPT)
    ds.RescaleSlope = str(RESCALE_SLOPE)
    ds.RescaleType = "HU"
    return ds


def _slice_attributes(phantom: Phantom, series: Dataset, index: int) -> dict[str, object]:
    """The series' attributes (as :func:`_series_dataset` formats them) and this slice's position."""
    attributes: dict[str, object] = {element.keyword: element.value for element in series if element.keyword}
    rows, cols = phantom.hu.shape[1:]
    # Pixel centres are symmetric about the image centre, which is the patient-coordinate origin in x, y.
    x0 = -(cols - 1) / 2 * phantom.pixel_spacing_mm
    y0 = -(rows - 1) / 2 * phantom.pixel_spacing_mm
    z = SCAN_TOP_Z_MM - phantom.z_mm(index)
    attributes["ImagePositionPatient"] = [_ds(x0), _ds(y0), _ds(z)]
    attributes["SliceLocation"] = _ds(z)
    return attributes


def _prepare(folder: Path, names: list[str], pattern: str) -> None:
    """Create ``folder`` and remove files matching ``pattern`` there that are not in ``names``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        keep = set(names)
        stale = [p for p in folder.glob(pattern) if p.name not in keep and p.is_file()]
        for path in stale:
            path.unlink()
    except OSError as exc:
        raise InputError(folder, f"cannot create or clean the folder ({exc}); choose a writable --out") from exc
    if stale:
        logger.info("phantom: removed %d stale files from %s", len(stale), folder)


@contextmanager
def _quiet(names: tuple[str, ...]) -> Iterator[None]:
    """Hold the named loggers at WARNING for the duration (the JPEG 2000 encoder logs every frame)."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _save_dataset(ds: Dataset, path: Path) -> None:
    ds.save_as(path, enforce_file_format=True)


def _save_png(image: npt.NDArray[np.uint8], path: Path) -> None:
    Image.fromarray(image).save(path)


def _guarded(path: Path, write: Callable[[Path], object]) -> None:
    try:
        write(path)
    except OSError as exc:
        raise InputError(path, f"cannot write ({exc}); check the folder is writable and has space") from exc
