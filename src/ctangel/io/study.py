"""A study as the pipeline sees it: one series of slices in display orientation, read one slice at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from ctangel._types import Box, PixelKind
from ctangel.errors import InputError

#: A slice's pixels: HU (float32) or 8-bit grey values (uint8), ``(rows, cols)``.
SlicePixels = npt.NDArray[np.float32] | npt.NDArray[np.uint8]

_Scalar = TypeVar("_Scalar", bound=np.generic)


@dataclass(frozen=True)
class DisplayTransform:
    """How a stored slice turns into display orientation (patient's front up, patient's left on the right).

    Applied in this order: transpose, then flip rows (up-down), then flip columns (left-right).
    The identity for the usual axial DICOM (ImageOrientationPatient 1,0,0,0,1,0) and for image files.
    """

    transpose: bool = False
    flip_rows: bool = False
    flip_cols: bool = False

    def apply(self, stored: npt.NDArray[_Scalar]) -> npt.NDArray[_Scalar]:
        """Stored 2-D array to display orientation."""
        out = stored.T if self.transpose else stored
        if self.flip_rows:
            out = out[::-1, :]
        if self.flip_cols:
            out = out[:, ::-1]
        return np.ascontiguousarray(out)

    def invert(self, display: npt.NDArray[_Scalar]) -> npt.NDArray[_Scalar]:
        """Display-orientation 2-D array back to the stored orientation."""
        out = display
        if self.flip_cols:
            out = out[:, ::-1]
        if self.flip_rows:
            out = out[::-1, :]
        if self.transpose:
            out = out.T
        return np.ascontiguousarray(out)

    def box_to_stored(self, box: Box, display_shape: tuple[int, int]) -> Box:
        """A box in display pixels to the same box in the stored image's pixels (edges)."""
        rows, cols = display_shape
        x0, y0, x1, y1 = box
        if self.flip_cols:
            x0, x1 = cols - x1, cols - x0
        if self.flip_rows:
            y0, y1 = rows - y1, rows - y0
        if self.transpose:
            x0, y0, x1, y1 = y0, x0, y1, x1
        return (x0, y0, x1, y1)

    @property
    def is_identity(self) -> bool:
        """Whether display equals storage."""
        return not (self.transpose or self.flip_rows or self.flip_cols)


@dataclass(frozen=True, eq=False)
class VolumeGrid:
    """The voxel grid a volume's masks are written on (see :func:`ctangel.io.mask_to_nifti`).

    For a NIfTI input this is the input file's own grid, so masks overlay on it in any viewer; for a DICOM
    series it is the display volume ``(col, row, index)`` itself, with :attr:`Study.affine`.

    Args:
        shape: the written array's shape (three axes).
        affine: its 4x4 voxel-to-RAS affine, in mm.
        display_to_grid: a nibabel orientation, ``(3, 2)``: for display axis ``d`` (0 = display column,
            1 = display row, 2 = head-to-feet index), the grid axis it becomes and whether it is reversed
            (``-1``); what ``nibabel.orientations.apply_orientation`` takes.
        qform_code: the NIfTI qform code the mask carries (1 = scanner coordinates).
        sform_code: the NIfTI sform code the mask carries.
    """

    shape: tuple[int, int, int]
    affine: npt.NDArray[np.float64]
    display_to_grid: npt.NDArray[np.float64]
    qform_code: int = 1
    sform_code: int = 1

    @property
    def display_volume_shape(self) -> tuple[int, int, int]:
        """``(cols, rows, slices)`` of the display volume."""
        axes = self.display_to_grid[:, 0].astype(int)
        return (self.shape[axes[0]], self.shape[axes[1]], self.shape[axes[2]])

    @property
    def slice_shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of one slice in display orientation."""
        cols, rows, _ = self.display_volume_shape
        return (rows, cols)


@dataclass
class Study:
    """One series of slices, head to feet for volumes, read lazily one slice at a time.

    Args:
        patient_id: DICOM PatientID; for images the name of the folder holding them; for NIfTI the file's
            name without ``.nii``/``.nii.gz``.
        study_id: DICOM StudyInstanceUID; else the folder's or file's name.
        series_id: DICOM SeriesInstanceUID; else the folder's or file's name.
        input: the path this study was read from, as the user gave it or as found under it: the file
            given (a single DICOM, NIfTI or image file), else the folder holding the series or images.
        kind: ``"hu"`` (DICOM, NIfTI) or ``"uint8"`` (image files, already windowed).
        sources: per slice (head to feet for volumes), the file path as given or as found under the path
            given (not resolved), or ``PATH#k`` for slice ``k`` along a NIfTI file's own slice axis.
        loader: ``loader(i)`` returns slice ``i`` (head-to-feet index) in display orientation.
        display: how stored slices turn into display orientation (boxes are reported in stored pixels: a
            DICOM file's pixel array; for NIfTI the 2-D array ``dataobj`` gives for the slice, its two axes
            in file order).
        is_volume: whether masks are written as one NIfTI volume (DICOM series, NIfTI) or as PNGs (images).
        pixel_spacing_mm: ``(row, col)`` spacing of display slices, when known.
        slice_spacing_mm: distance between neighbouring slices, when known.
        affine: for volumes, the 4x4 RAS affine (mm) of the display volume, voxel ``(col, row, index)``
            with ``index`` head to feet; None for images.
        description: a line for reports (modality, series description, scanner); never patient data.
        skipped: what discovery skipped beside this study (one line each, ``PATH: reason``), for the report.
        grid: for volumes, the voxel grid masks are written on (:func:`ctangel.io.mask_to_nifti`).
    """

    patient_id: str
    study_id: str
    series_id: str
    input: str
    kind: PixelKind
    sources: list[str]
    loader: Callable[[int], SlicePixels]
    display: DisplayTransform = field(default_factory=DisplayTransform)
    is_volume: bool = False
    pixel_spacing_mm: tuple[float, float] | None = None
    slice_spacing_mm: float | None = None
    affine: npt.NDArray[np.float64] | None = None
    description: str = ""
    skipped: list[str] = field(default_factory=list)
    grid: VolumeGrid | None = None

    def __len__(self) -> int:
        return len(self.sources)

    def read(self, index: int) -> SlicePixels:
        """Slice ``index`` (head to feet) in display orientation.

        Raises:
            InputError: the slice's file cannot be read, or it holds NaN or infinite values (a float volume
                with holes would otherwise look like air, and a study of it like a confident negative).
        """
        pixels = self.loader(index)
        if pixels.dtype.kind == "f":
            finite = np.isfinite(pixels)
            if not finite.all():
                bad = int(pixels.size - np.count_nonzero(finite))
                raise InputError(
                    self.sources[index],
                    f"{bad} of its {pixels.size} values are NaN or infinite; the slice cannot be analysed "
                    "(fill the missing values, e.g. with -1000 HU for air, and save it again)",
                )
        return pixels

    def __iter__(self) -> Iterator[SlicePixels]:
        for i in range(len(self)):
            yield self.read(i)

    @property
    def voxel_volume_ml(self) -> float | None:
        """Volume of one voxel in millilitres, when the spacing is known."""
        if self.pixel_spacing_mm is None or self.slice_spacing_mm is None:
            return None
        return self.pixel_spacing_mm[0] * self.pixel_spacing_mm[1] * self.slice_spacing_mm / 1000.0

    @property
    def pixel_area_mm2(self) -> float | None:
        """Area of one pixel in mm², when the spacing is known."""
        if self.pixel_spacing_mm is None:
            return None
        return self.pixel_spacing_mm[0] * self.pixel_spacing_mm[1]
