"""DICOM CT: one slice's pixels in Hounsfield units, and files grouped into series read as studies.

Discovery reads headers only (``stop_before_pixels``) and keeps a few values per slice
(:class:`CtSliceHeader`); a study's loader reads one file's pixels when asked, so memory does not grow
with the number of slices. Compressed transfer syntaxes decode through pydicom's plugins: RLE natively,
JPEG (baseline, extended, lossless, JPEG-LS) through pylibjpeg-libjpeg, JPEG 2000 through
pylibjpeg-openjpeg.

Geometry: DICOM patient coordinates are LPS (x to the patient's left, y to the back, z to the head). A
slice's stored pixel ``(r, c)`` lies at ``ImagePositionPatient + c * dc * u + r * dr * v`` with ``u``,
``v`` the row and column direction cosines of ImageOrientationPatient and ``(dr, dc)`` PixelSpacing.
ctangel's display orientation shows the patient's front at the top and the patient's left on the
image's right, slices ordered head to feet; for sagittal and coronal series (analysed, with a warning)
see :data:`DISPLAY_AXES`.

Nothing here logs patient-identifying attributes (PatientName, PatientBirthDate, ...): log lines name
files, series UIDs and reasons only.
"""

from __future__ import annotations

import os
import struct
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    UID,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    EnhancedCTImageStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    LegacyConvertedEnhancedCTImageStorage,
    MediaStorageDirectoryStorage,
)

from ctangel.errors import InputError
from ctangel.io.limits import check_image_pixels
from ctangel.io.paths import natural_key
from ctangel.io.study import DisplayTransform, SlicePixels, Study, VolumeGrid
from ctangel.log import logger

#: SOP classes read as CT slices.
CT_SOP_CLASSES: Final = frozenset({CTImageStorage})
#: Multi-frame CT SOP classes, recognised but not supported (export single-frame CT instead).
MULTIFRAME_CT_SOP_CLASSES: Final = frozenset({EnhancedCTImageStorage, LegacyConvertedEnhancedCTImageStorage})
#: File endings tried as DICOM even without the ``DICM`` preamble (old ACR-NEMA style files).
PREAMBLELESS_SUFFIXES: Final = frozenset({".dcm", ".dicom", ".ima", ""})
#: ImageType value of localizer (scout) images, which are skipped.
LOCALIZER_IMAGE_TYPE: Final = "LOCALIZER"
#: PatientID when a file has none.
UNKNOWN_PATIENT: Final = "unknown"
#: Two slices closer than this along the slice normal share a position (both are kept).
DUPLICATE_POSITION_TOLERANCE_MM: Final = 0.01
#: Spacing is "irregular" (slices missing?) when a gap differs from the median gap by more than this share.
IRREGULAR_SPACING_FRACTION: Final = 0.1
#: Direction cosines are compared at this many decimals when slices of one series are grouped by geometry.
ORIENTATION_DECIMALS: Final = 2
#: DICOM LPS to NIfTI RAS: x and y change sign.
LPS_TO_RAS: Final = np.diag([-1.0, -1.0, 1.0, 1.0])

#: Per plane (named after the slice normal's main axis), in LPS: the direction of increasing display
#: column, of increasing display row, and the side the first slice lies on. Axial: patient's left to the
#: right, front at the top, head first (the usual DICOM orientation needs no change). Coronal: patient's
#: left to the right, head at the top, front first. Sagittal: back to the right, head at the top, patient's
#: right first.
DISPLAY_AXES: Final[dict[str, tuple[tuple[float, float, float], ...]]] = {
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0), (-1.0, 0.0, 0.0)),
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0), (0.0, -1.0, 0.0)),
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
}
_PLANES: Final = ("sagittal", "coronal", "axial")
_STANDARD_ORIENTATION: Final = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)

_PIXEL_DATA_TAG: Final = (0x7FE0, 0x0010)
#: Float Pixel Data and Double Float Pixel Data, and their bytes per value.
_FLOAT_PIXEL_DATA_TAGS: Final = {(0x7FE0, 0x0008): 4, (0x7FE0, 0x0009): 8}
_ITEM_TAG: Final = (0xFFFE, 0xE000)
_SEQUENCE_DELIMITER_TAG: Final = (0xFFFE, 0xE0DD)
_UNDEFINED_LENGTH: Final = 0xFFFFFFFF
#: Explicit-VR value representations with a 2-byte reserved field and a 4-byte length.
_LONG_VRS: Final = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT"})
_BITS_PER_BYTE: Final = 8


@dataclass(frozen=True, slots=True)
class CtSliceHeader:
    """What discovery keeps of one CT slice's header: no pixels, and of the patient only the PatientID.

    Args:
        path: the file, as given or as found under the path given.
        patient_id: PatientID, or ``"unknown"``.
        study_uid: StudyInstanceUID, or ``"unknown"``.
        series_uid: SeriesInstanceUID; without one, a stand-in naming the file's folder.
        sop_uid: SOPInstanceUID, or the path when missing.
        series_number: SeriesNumber, when present (used to order series only).
        instance_number: InstanceNumber, when present.
        rows: Rows of the stored pixel array.
        cols: Columns of the stored pixel array.
        position: ImagePositionPatient (mm, LPS), when present and valid.
        orientation: ImageOrientationPatient (row then column direction cosines), when present and valid.
        pixel_spacing: PixelSpacing ``(between rows, between columns)`` in mm, when present and valid.
        slice_thickness: SliceThickness in mm, when present and valid.
        description: Modality, SeriesDescription, Manufacturer and ManufacturerModelName, for reports.
    """

    path: str
    patient_id: str
    study_uid: str
    series_uid: str
    sop_uid: str
    series_number: int | None
    instance_number: int | None
    rows: int
    cols: int
    position: tuple[float, float, float] | None
    orientation: tuple[float, float, float, float, float, float] | None
    pixel_spacing: tuple[float, float] | None
    slice_thickness: float | None
    description: str


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A DICOM object that is not a CT slice ctangel analyses (SR, SEG, localizer, DICOMDIR, ...).

    Args:
        path: the file, as given or as found.
        reason: why it was skipped, without patient data.
    """

    path: str
    reason: str

    @property
    def line(self) -> str:
        """``PATH: reason``, the form logs and :attr:`Study.skipped` hold."""
        return f"{self.path}: {self.reason}"


def hu_from_dataset(ds: pydicom.Dataset, path: str | Path) -> npt.NDArray[np.float32]:
    """The slice's pixels in HU (``pixel * RescaleSlope + RescaleIntercept``), float32 ``(rows, cols)``.

    Raises:
        InputError: the pixel data cannot be decoded (for example a transfer syntax with no decoder), or the
            slice is over the pixel cap (:func:`~ctangel.io.limits.max_image_pixels`).
    """
    try:
        rows, cols, frames = _int(ds.get("Rows")), _int(ds.get("Columns")), _int(ds.get("NumberOfFrames")) or 1
        slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
        intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
    except Exception as exc:  # pydicom parses elements when they are read, raising many types on damaged ones
        raise InputError(path, f"damaged DICOM header ({type(exc).__name__}: {exc})") from exc
    if rows is None or cols is None:
        raise InputError(path, "the header has no image size (Rows, Columns): the file is damaged or cut short")
    check_image_pixels(str(path), rows, cols * max(frames, 1), "DICOM image")
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for undecodable pixel data
        raise InputError(path, f"cannot decode the pixel data ({exc})") from exc
    if pixels.ndim != 2:
        raise InputError(path, f"expected a single-frame greyscale slice, got pixel array of shape {pixels.shape}")
    hu = pixels.astype(np.float32)
    if slope != 1.0:
        hu *= np.float32(slope)
    if intercept != 0.0:
        hu += np.float32(intercept)
    return hu


def read_dicom_slice(path: str | Path) -> npt.NDArray[np.float32]:
    """Read one DICOM CT slice as HU, in stored orientation.

    Raises:
        InputError: the file is missing, not DICOM, or its pixels cannot be decoded.
    """
    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
    except FileNotFoundError as exc:
        raise InputError(path, "no such file") from exc
    except (InvalidDicomError, OSError, EOFError, ValueError) as exc:
        raise InputError(path, f"not a readable DICOM file ({exc})") from exc
    return hu_from_dataset(ds, path)


def read_dicom_header(path: str | Path) -> CtSliceHeader | SkippedFile | None:
    """Read one file's DICOM header (no pixels) and judge whether it is a CT slice ctangel analyses.

    Files without the ``DICM`` preamble are tried as DICOM only when their ending is one of
    :data:`PREAMBLELESS_SUFFIXES` (and must then hold a SOP class and an image size).

    Returns:
        the slice's header; a :class:`SkippedFile` for DICOM objects that are not CT slices (other SOP
        classes such as SR, SEG, RT or secondary capture, localizers, DICOMDIR, colour images); None when
        the file is not DICOM.

    Raises:
        InputError: the file cannot be read, is damaged or truncated (header or pixel data cut short), or
            is multi-frame (Enhanced) CT, which is not supported.
    """
    name = str(path)
    try:
        with open(path, "rb") as fp:
            ds = _read_header(fp, Path(path))
            if ds is None:
                return None
            verdict = _classify(ds, name)
            if verdict is not None:
                return verdict
            problem = _pixel_data_problem(fp, ds)
    except FileNotFoundError as exc:
        raise InputError(name, "no such file") from exc
    except OSError as exc:
        raise InputError(name, f"cannot be read ({exc.strerror or exc}); check its permissions") from exc
    except InputError:
        raise
    except Exception as exc:  # pydicom parses elements when they are read, raising many types on damaged ones
        raise InputError(
            name, f"damaged DICOM header ({type(exc).__name__}: {exc}); copy or export the file again"
        ) from exc
    if problem is not None:
        raise InputError(name, f"{problem}; copy or export the file again")
    try:
        return _header_of(ds, name)
    except Exception as exc:  # as above: an element that cannot be parsed
        raise InputError(
            name, f"damaged DICOM header ({type(exc).__name__}: {exc}); copy or export the file again"
        ) from exc


def display_transform(orientation: Sequence[float]) -> DisplayTransform:
    """The transform taking a slice stored with ImageOrientationPatient ``orientation`` to display.

    For axial slices: transpose when the stored rows run along the patient's y axis, then flip columns when
    the (transposed) rows run toward the patient's right, and flip rows when the columns run toward the
    front; the usual ``1,0,0,0,1,0`` gives the identity. Sagittal and coronal slices follow
    :data:`DISPLAY_AXES`.
    """
    u = np.asarray(orientation[:3], dtype=np.float64)
    v = np.asarray(orientation[3:6], dtype=np.float64)
    h, w, _ = (np.asarray(a) for a in DISPLAY_AXES[slice_plane(orientation)])
    transpose = abs(float(u @ w)) > abs(float(u @ h))
    along_cols, along_rows = (v, u) if transpose else (u, v)
    return DisplayTransform(transpose=transpose, flip_rows=bool(along_rows @ w < 0), flip_cols=bool(along_cols @ h < 0))


def slice_plane(orientation: Sequence[float]) -> str:
    """``"axial"``, ``"coronal"`` or ``"sagittal"``: the patient axis the slice normal lies closest to."""
    normal = np.cross(np.asarray(orientation[:3], dtype=np.float64), np.asarray(orientation[3:6], dtype=np.float64))
    return _PLANES[int(np.argmax(np.abs(normal)))]


def dicom_studies(
    headers: Sequence[CtSliceHeader], input_path: str | None = None
) -> tuple[list[Study], list[SkippedFile]]:
    """Group CT slice headers by SeriesInstanceUID; each series becomes one study, ordered head to feet.

    Slices are ordered by ImagePositionPatient projected on the slice normal (the cross product of the
    ImageOrientationPatient row and column vectors), most superior first; without positions by
    InstanceNumber (logged as a warning). Slices sharing a position are both kept (logged). A second copy
    of a SOPInstanceUID, and slices whose size or orientation differ from the series' main group, are
    returned as skipped; the caller logs them.

    Args:
        headers: headers from :func:`read_dicom_header`, in any order.
        input_path: the path the user gave, used as every study's ``input``; by default the folder
            holding each series' files.

    Returns:
        ``(studies, skipped)``, studies in SeriesNumber then SeriesInstanceUID order.
    """
    by_series: dict[str, list[CtSliceHeader]] = defaultdict(list)
    for header in headers:
        by_series[header.series_uid].append(header)
    studies: list[tuple[tuple[int, str], Study]] = []
    skipped: list[SkippedFile] = []
    for uid, members in by_series.items():
        kept, dropped = _consistent_slices(sorted(members, key=lambda h: natural_key(h.path)))
        skipped.extend(dropped)
        study = _series_study(kept, input_path)
        number = kept[0].series_number
        studies.append(((number if number is not None else 2**31, uid), study))
    studies.sort(key=lambda item: item[0])
    return [study for _, study in studies], skipped


# --- reading headers --------------------------------------------------------------------------------


def _read_header(fp: BinaryIO, path: Path) -> Dataset | None:
    try:
        return pydicom.dcmread(fp, stop_before_pixels=True)
    except InvalidDicomError:
        pass
    except Exception as exc:  # pydicom raises many types on damaged headers
        raise InputError(path, f"damaged DICOM header ({exc}); copy or export the file again") from exc
    if path.suffix.lower() not in PREAMBLELESS_SUFFIXES:
        return None
    fp.seek(0)
    try:
        with warnings.catch_warnings():  # pydicom warns about whatever a non-DICOM file looks like
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(fp, stop_before_pixels=True, force=True)
    except Exception:  # a file that is not DICOM at all: not ours to judge
        return None
    if "SOPClassUID" not in ds or "Rows" not in ds:
        return None
    return ds


def _classify(ds: Dataset, path: str) -> SkippedFile | None:
    """None for a single-frame greyscale CT slice; a SkippedFile for other objects."""
    meta = getattr(ds, "file_meta", None)
    sop = UID(str(ds.get("SOPClassUID", "") or (meta.get("MediaStorageSOPClassUID", "") if meta else "")))
    if sop == MediaStorageDirectoryStorage or "DirectoryRecordSequence" in ds:
        return SkippedFile(path, "DICOMDIR (an index of a DICOM medium, not an image)")
    if sop in MULTIFRAME_CT_SOP_CLASSES or _int(ds.get("NumberOfFrames")) not in (None, 1):
        raise InputError(
            path,
            f"multi-frame CT ({sop.name}) is not supported; export the series as single-frame CT images "
            "(one file per slice)",
        )
    if sop not in CT_SOP_CLASSES:
        modality = str(ds.get("Modality", "") or "none")
        return SkippedFile(path, f"not a CT image ({sop.name or 'no SOP class'}, modality {modality})")
    image_type = [str(value).upper() for value in _as_list(ds.get("ImageType"))]
    if LOCALIZER_IMAGE_TYPE in image_type:
        return SkippedFile(path, "localizer (scout) image")
    samples = _int(ds.get("SamplesPerPixel"))
    if samples not in (None, 1):
        return SkippedFile(path, f"not a greyscale image ({samples} samples per pixel)")
    rows, cols = _int(ds.get("Rows")), _int(ds.get("Columns"))
    if rows is None or cols is None:
        raise InputError(path, "the CT header has no image size (Rows, Columns): the file is damaged or cut short")
    check_image_pixels(path, rows, cols, "CT slice")
    return None


def _pixel_data_problem(fp: BinaryIO, ds: Dataset) -> str | None:
    """What is wrong with the pixel data element that follows the header at ``fp``'s position, if anything."""
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta else None
    if syntax == DeflatedExplicitVRLittleEndian:
        return None  # the position is in the inflated stream; pydicom checks when it decodes
    implicit, little = ds.original_encoding
    if implicit is None or little is None:
        return None
    endian = "<" if little else ">"
    start = fp.tell()
    size = os.fstat(fp.fileno()).st_size
    head = fp.read(8)
    if len(head) < 8:
        return "the file ends before its pixel data (truncated)"
    tag = struct.unpack(f"{endian}HH", head[:4])
    value_bytes = _FLOAT_PIXEL_DATA_TAGS.get(tag)
    if tag != _PIXEL_DATA_TAG and value_bytes is None:
        return "the CT file holds no pixel data"
    if implicit:
        (length,) = struct.unpack(f"{endian}I", head[4:8])
        head_len = 8
    elif head[4:6] in _LONG_VRS:
        more = fp.read(4)
        if len(more) < 4:
            return "the file ends inside its pixel data (truncated)"
        (length,) = struct.unpack(f"{endian}I", more)
        head_len = 12
    else:
        (length,) = struct.unpack(f"{endian}H", head[6:8])
        head_len = 8
    if length == _UNDEFINED_LENGTH:
        return _fragments_problem(fp, start + head_len, size)
    if start + head_len + length > size:
        return f"truncated: its pixel data needs {length} bytes but the file holds {size - start - head_len}"
    bits = value_bytes * _BITS_PER_BYTE if value_bytes else _int(ds.get("BitsAllocated")) or 16
    needed = (_int(ds.get("Rows")) or 0) * (_int(ds.get("Columns")) or 0) * bits // _BITS_PER_BYTE
    if length < needed:
        return f"its pixel data holds {length} bytes, fewer than Rows x Columns needs ({needed})"
    return None


def _fragments_problem(fp: BinaryIO, position: int, size: int) -> str | None:
    """Walk encapsulated (compressed) pixel data items to the sequence delimiter; None when all is there."""
    while True:
        fp.seek(position)
        item = fp.read(8)
        if len(item) < 8:
            return "truncated: the file ends inside its compressed pixel data"
        group, element, length = struct.unpack("<HHI", item)
        if (group, element) == _SEQUENCE_DELIMITER_TAG:
            return None
        if (group, element) != _ITEM_TAG:
            return f"damaged compressed pixel data (tag ({group:04X},{element:04X}) where an item was expected)"
        position += 8 + length
        if position > size:
            return "truncated: the file ends inside its compressed pixel data"


def _header_of(ds: Dataset, path: str) -> CtSliceHeader:
    series_uid = str(ds.get("SeriesInstanceUID", "") or "")
    if not series_uid:
        series_uid = f"no SeriesInstanceUID in {os.path.dirname(path) or '.'}"
    orientation = _floats(ds.get("ImageOrientationPatient"), 6)
    if orientation is not None and np.linalg.norm(np.cross(orientation[:3], orientation[3:])) < 0.5:
        orientation = None  # degenerate direction cosines
    spacing = _floats(ds.get("PixelSpacing"), 2)
    thickness = _floats(ds.get("SliceThickness"), 1)
    return CtSliceHeader(
        path=path,
        patient_id=str(ds.get("PatientID", "") or "").strip() or UNKNOWN_PATIENT,
        study_uid=str(ds.get("StudyInstanceUID", "") or "") or "unknown",
        series_uid=series_uid,
        sop_uid=str(ds.get("SOPInstanceUID", "") or "") or path,
        series_number=_int(ds.get("SeriesNumber")),
        instance_number=_int(ds.get("InstanceNumber")),
        rows=int(ds.Rows),
        cols=int(ds.Columns),
        position=_floats(ds.get("ImagePositionPatient"), 3),  # type: ignore[arg-type]
        orientation=orientation,  # type: ignore[arg-type]
        pixel_spacing=spacing if spacing is not None and min(spacing) > 0 else None,  # type: ignore[arg-type]
        slice_thickness=thickness[0] if thickness is not None and thickness[0] > 0 else None,
        description=_description(ds),
    )


def _description(ds: Dataset) -> str:
    scanner = " ".join(str(ds.get(k, "") or "").strip() for k in ("Manufacturer", "ManufacturerModelName"))
    parts = [str(ds.get("Modality", "") or "").strip(), str(ds.get("SeriesDescription", "") or "").strip()]
    return ", ".join(p for p in [*parts, scanner.strip()] if p)


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, str | bytes):
        return [value]
    try:
        return list(value)  # type: ignore[call-overload]
    except TypeError:
        return [value]


def _floats(value: object, count: int) -> tuple[float, ...] | None:
    items = _as_list(value)
    if len(items) != count:
        return None
    try:
        out = tuple(float(item) for item in items)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return out if all(np.isfinite(out)) else None


def _int(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


# --- series to study --------------------------------------------------------------------------------


def _consistent_slices(members: list[CtSliceHeader]) -> tuple[list[CtSliceHeader], list[SkippedFile]]:
    """Drop repeated SOP instances and slices whose size or orientation differ from the series' main group."""
    seen: set[str] = set()
    unique: list[CtSliceHeader] = []
    skipped: list[SkippedFile] = []
    for header in members:
        if header.sop_uid in seen:
            skipped.append(SkippedFile(header.path, "a second copy of a slice already read (same SOPInstanceUID)"))
            continue
        seen.add(header.sop_uid)
        unique.append(header)

    def geometry(h: CtSliceHeader) -> tuple[object, ...]:
        cosines = None if h.orientation is None else tuple(round(c, ORIENTATION_DECIMALS) + 0.0 for c in h.orientation)
        return (h.rows, h.cols, cosines)

    counts = Counter(geometry(h) for h in unique)
    main = max(counts, key=lambda g: counts[g])  # ties: the group met first in file-name order
    kept = [h for h in unique if geometry(h) == main]
    for header in unique:
        if geometry(header) != main:
            skipped.append(
                SkippedFile(
                    header.path,
                    f"size or orientation differs from the other {len(kept)} slices of its series",
                )
            )
    return kept, skipped


def _series_study(headers: list[CtSliceHeader], input_path: str | None) -> Study:
    first = headers[0]
    uid = first.series_uid
    where = input_path or _common_folder([h.path for h in headers])
    orientation = first.orientation or _STANDARD_ORIENTATION
    plane = slice_plane(orientation)
    if first.orientation is not None and plane != "axial":
        logger.warning("%s: series %s is %s, not axial; analysing it anyway", where, uid, plane)
    u = np.asarray(orientation[:3], dtype=np.float64)
    v = np.asarray(orientation[3:], dtype=np.float64)
    normal = np.cross(u, v)
    normal /= np.linalg.norm(normal)
    first_side = np.asarray(DISPLAY_AXES[plane][2])
    toward_first = normal if normal @ first_side >= 0 else -normal

    geometric = first.orientation is not None and all(h.position is not None for h in headers)
    if geometric:
        depth = {h.path: float(np.asarray(h.position) @ toward_first) for h in headers}
        ordered = sorted(headers, key=lambda h: (-depth[h.path], h.instance_number or 0, natural_key(h.path)))
        gaps = -np.diff([depth[h.path] for h in ordered])
    else:
        if len(headers) > 1:
            logger.warning(
                "%s: series %s has no slice positions (ImagePositionPatient/ImageOrientationPatient); slices "
                "ordered by InstanceNumber, head-to-feet order not checked",
                where,
                uid,
            )
        ordered = sorted(
            headers, key=lambda h: (h.instance_number is None, h.instance_number or 0, natural_key(h.path))
        )
        gaps = np.zeros(0)

    spacing = _slice_spacing(gaps, where, uid) or first.slice_thickness
    display = display_transform(orientation)
    row_mm, col_mm = first.pixel_spacing or (1.0, 1.0)
    origin = np.asarray(ordered[0].position if geometric else (0.0, 0.0, 0.0), dtype=np.float64)
    step = -toward_first * (spacing or 1.0)
    if geometric and len(ordered) > 1:
        travel = np.asarray(ordered[-1].position) - origin
        along = float(-(travel @ toward_first))
        if along > DUPLICATE_POSITION_TOLERANCE_MM:
            step = travel / along * (spacing or 1.0)  # keeps a gantry tilt's shear
    affine = _display_affine(origin, step, u, v, (row_mm, col_mm), display, (first.rows, first.cols))
    display_shape = (first.cols, first.rows) if display.transpose else (first.rows, first.cols)
    pixel_spacing = None
    if first.pixel_spacing is not None:
        pixel_spacing = (col_mm, row_mm) if display.transpose else (row_mm, col_mm)
    sources = [h.path for h in ordered]
    grid = VolumeGrid(
        shape=(display_shape[1], display_shape[0], len(sources)),
        affine=affine,
        display_to_grid=np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]]),
    )
    return Study(
        patient_id=first.patient_id,
        study_id=first.study_uid,
        series_id=uid,
        input=where,
        kind="hu",
        sources=sources,
        loader=_slice_loader(tuple(sources), display, (first.rows, first.cols)),
        display=display,
        is_volume=True,
        pixel_spacing_mm=pixel_spacing,
        slice_spacing_mm=spacing,
        affine=affine,
        description=first.description,
        grid=grid,
    )


def _slice_spacing(gaps: npt.NDArray[np.float64], where: str, uid: str) -> float | None:
    if gaps.size == 0:
        return None
    shared = gaps < DUPLICATE_POSITION_TOLERANCE_MM
    if shared.any():
        logger.warning(
            "%s: series %s: %d slices share a position with their neighbour; all are kept (ordered by "
            "InstanceNumber), but the mask volume's geometry is then approximate",
            where,
            uid,
            int(shared.sum()),
        )
    distinct = gaps[~shared]
    if distinct.size == 0:
        return None
    spacing = float(np.median(distinct))
    if np.any(np.abs(distinct - spacing) > IRREGULAR_SPACING_FRACTION * spacing):
        logger.warning(
            "%s: series %s: slice spacing is irregular (%.3g to %.3g mm; slices missing?); the mask volume "
            "assumes %.3g mm",
            where,
            uid,
            float(distinct.min()),
            float(distinct.max()),
            spacing,
        )
    return spacing


def _display_affine(
    origin: npt.NDArray[np.float64],
    step: npt.NDArray[np.float64],
    u: npt.NDArray[np.float64],
    v: npt.NDArray[np.float64],
    pixel_spacing: tuple[float, float],
    display: DisplayTransform,
    stored_shape: tuple[int, int],
) -> npt.NDArray[np.float64]:
    """RAS affine of display voxel ``(col, row, index)``: the stored pixel it shows, in LPS, then to RAS."""
    to_stored = _display_to_stored(display, stored_shape)  # [c, r] = to_stored @ [col, row, 1]
    per_col = u * pixel_spacing[1]  # LPS per stored column
    per_row = v * pixel_spacing[0]
    lps = np.eye(4)
    lps[:3, 0] = per_col * to_stored[0, 0] + per_row * to_stored[1, 0]
    lps[:3, 1] = per_col * to_stored[0, 1] + per_row * to_stored[1, 1]
    lps[:3, 2] = step
    lps[:3, 3] = origin + per_col * to_stored[0, 2] + per_row * to_stored[1, 2]
    return LPS_TO_RAS @ lps


def _display_to_stored(display: DisplayTransform, stored_shape: tuple[int, int]) -> npt.NDArray[np.float64]:
    """``(2, 3)`` matrix taking display ``[col, row, 1]`` to the stored ``[col, row]`` it shows."""
    rows, cols = stored_shape
    t_rows, t_cols = (cols, rows) if display.transpose else (rows, cols)
    col_after = [-1.0, 0.0, t_cols - 1.0] if display.flip_cols else [1.0, 0.0, 0.0]
    row_after = [0.0, -1.0, t_rows - 1.0] if display.flip_rows else [0.0, 1.0, 0.0]
    if display.transpose:
        return np.array([row_after, col_after])
    return np.array([col_after, row_after])


def _common_folder(paths: Sequence[str]) -> str:
    folders = sorted({os.path.dirname(p) for p in paths})
    if len(folders) == 1:
        return folders[0] or "."
    try:
        common = os.path.commonpath(folders)
    except ValueError:  # absolute and relative paths mixed
        common = folders[0]
    return common or "."


# --- pixels -----------------------------------------------------------------------------------------


def _slice_loader(
    paths: tuple[str, ...], display: DisplayTransform, stored_shape: tuple[int, int]
) -> Callable[[int], SlicePixels]:
    def load(index: int) -> SlicePixels:
        path = paths[index]
        hu = _read_hu(path)
        if hu.shape != stored_shape:
            raise InputError(
                path,
                f"the pixels are {hu.shape[0]}x{hu.shape[1]} but the header said "
                f"{stored_shape[0]}x{stored_shape[1]}; the file changed or is damaged",
            )
        return display.apply(hu)

    return load


def _read_hu(path: str) -> npt.NDArray[np.float32]:
    try:
        ds = pydicom.dcmread(path, force=True)
    except FileNotFoundError as exc:
        raise InputError(path, "no such file (it was there when the input was read); keep the input in place") from exc
    except Exception as exc:  # pydicom raises many types on damaged files
        raise InputError(path, f"not a readable DICOM file ({exc})") from exc
    meta = ds.file_meta
    if "TransferSyntaxUID" not in meta:  # a file without a preamble and file meta: as read
        implicit, little = ds.original_encoding
        if implicit:
            meta.TransferSyntaxUID = ImplicitVRLittleEndian
        else:
            meta.TransferSyntaxUID = ExplicitVRLittleEndian if little is not False else ExplicitVRBigEndian
    return hu_from_dataset(ds, path)
