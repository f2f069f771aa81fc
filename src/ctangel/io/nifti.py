"""NIfTI volumes (``.nii``, ``.nii.gz``): read lazily in HU as display slices, and masks written back.

A volume is shown as axial slices whatever its storage order: nibabel's ``io_orientation`` of the
affine picks, for each display axis, the file axis nearest to it (column: toward the patient's left,
row: toward the back, index: toward the feet), so the display volume is the file's array permuted and
flipped, never resampled. An oblique volume is shown along its nearest axes.

Masks go back onto the input's own voxel grid and affine (:func:`mask_to_nifti`), so they overlay on the
input in any viewer; for a DICOM series they form the display volume with :attr:`Study.affine`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import nibabel as nib
import numpy as np
import numpy.typing as npt
from nibabel.filebasedimages import ImageFileError
from nibabel.orientations import (
    apply_orientation,
    axcodes2ornt,
    inv_ornt_aff,
    io_orientation,
    ornt_transform,
)

from ctangel.errors import InputError
from ctangel.io.limits import check_image_pixels
from ctangel.io.paths import nifti_stem
from ctangel.io.study import DisplayTransform, SlicePixels, Study, VolumeGrid

#: The display volume's axes as nibabel axis codes: column toward the patient's left (L), row toward the
#: back (P), slice index toward the feet (I).
DISPLAY_AXCODES: Final = ("L", "P", "I")
#: A compressed volume is read this many voxels at a time (a block of whole slices): a pass over the
#: volume then decompresses the file a few times instead of once per slice. About 64 MB as float32.
NIFTI_GZ_BLOCK_VOXELS: Final = 16 * 1024 * 1024
#: NIfTI sform/qform code for scanner coordinates, given to masks of DICOM series.
SCANNER_XFORM_CODE: Final = 1
#: sform code "aligned to another file", given when the input has neither form set.
ALIGNED_XFORM_CODE: Final = 2
_SPATIAL_AXES: Final = 3
_NUMERIC_KINDS: Final = frozenset("biuf")


def read_nifti(path: str | Path) -> Study:
    """Open a NIfTI volume as a study of axial display slices in HU, read one slice (or block) at a time.

    Values are the stored ones scaled by ``scl_slope`` / ``scl_inter`` (taken as HU). ``sources[i]`` is
    ``f"{path}#{k}"`` with ``k`` the 0-based index of display slice ``i`` along the file's own slice axis:
    the file axis closest to the patient's head-feet axis (``k`` counts from the file's first slice, which
    may be the most inferior). A shape with trailing axes of length 1 (``(x, y, z, 1)``) is read as 3-D.

    Args:
        path: the ``.nii`` or ``.nii.gz`` file; kept as given in ``input`` and ``sources``.

    Raises:
        InputError: the file is missing, not NIfTI, damaged or truncated, not 3-D, not numeric, or its slices
            are over the pixel cap (:func:`~ctangel.io.limits.max_image_pixels`).
    """
    name = str(path)
    try:
        return _read_nifti(name)
    except InputError:
        raise
    except Exception as exc:  # nibabel and numpy raise many types on a damaged header (NaN, absurd values)
        raise InputError(name, f"a damaged NIfTI header ({type(exc).__name__}: {exc}); copy the file again") from exc


def _read_nifti(name: str) -> Study:
    try:
        image = nib.load(name)
    except FileNotFoundError as exc:
        raise InputError(name, "no such file") from exc
    except (ImageFileError, OSError, EOFError, ValueError) as exc:
        raise InputError(name, f"not a readable NIfTI file ({exc})") from exc
    if not isinstance(image, nib.Nifti1Image | nib.Nifti2Image):
        raise InputError(name, f"not a NIfTI image ({type(image).__name__}); convert it to .nii or .nii.gz")
    shape = tuple(int(n) for n in image.shape)
    if len(shape) < _SPATIAL_AXES or any(n != 1 for n in shape[_SPATIAL_AXES:]):
        raise InputError(
            name,
            f"a {len(shape)}-D NIfTI volume of shape {shape}; ctangel reads 3-D CT volumes "
            "(give one 3-D volume per file; save a single slice as an image)",
        )
    dtype = image.get_data_dtype()
    if dtype.kind not in _NUMERIC_KINDS or dtype.names is not None:
        raise InputError(name, f"voxels of type {dtype} are not CT values; give a grey-value volume")
    if any(n < 1 for n in shape):
        raise InputError(name, f"the header gives the volume a shape of {shape}, with no voxels; the file is damaged")
    _check_size(name, image, shape)

    spatial = (shape[0], shape[1], shape[2])
    affine = np.asarray(image.affine, dtype=np.float64)
    to_display = ornt_transform(io_orientation(affine), axcodes2ornt(DISPLAY_AXCODES))
    slice_axis = int(np.flatnonzero(to_display[:, 0] == 2)[0])
    in_plane = [axis for axis in range(_SPATIAL_AXES) if axis != slice_axis]
    # The file's 2-D slice has axes in_plane[0], in_plane[1]; display rows come from the one that becomes row.
    row_axis = next(axis for axis in in_plane if to_display[axis, 0] == 1)
    col_axis = next(axis for axis in in_plane if to_display[axis, 0] == 0)
    check_image_pixels(name, spatial[row_axis], spatial[col_axis], "NIfTI slice")
    display = DisplayTransform(
        transpose=row_axis != in_plane[0],
        flip_rows=bool(to_display[row_axis, 1] == -1),
        flip_cols=bool(to_display[col_axis, 1] == -1),
    )
    reverse = bool(to_display[slice_axis, 1] == -1)
    count = spatial[slice_axis]
    file_index = [count - 1 - i if reverse else i for i in range(count)]
    zooms = nib.affines.voxel_sizes(affine)
    qform_code = int(image.header["qform_code"])
    sform_code = int(image.header["sform_code"])
    stem = nifti_stem(name)
    slice_voxels = math.prod(spatial) // count
    block = max(1, NIFTI_GZ_BLOCK_VOXELS // slice_voxels) if name.lower().endswith(".gz") else 1
    return Study(
        patient_id=stem,
        study_id=stem,
        series_id=stem,
        input=name,
        kind="hu",
        sources=[f"{name}#{k}" for k in file_index],
        loader=_NiftiSlices(name, image, slice_axis, file_index, display, block),
        display=display,
        is_volume=True,
        pixel_spacing_mm=(float(zooms[row_axis]), float(zooms[col_axis])),
        slice_spacing_mm=float(zooms[slice_axis]),
        affine=affine @ inv_ornt_aff(to_display, spatial),
        description=f"NIfTI volume {'x'.join(str(n) for n in spatial)}",
        grid=VolumeGrid(
            shape=spatial,
            affine=affine,
            display_to_grid=ornt_transform(axcodes2ornt(DISPLAY_AXCODES), io_orientation(affine)),
            qform_code=qform_code,
            sform_code=sform_code,
        ),
    )


def mask_to_nifti(study: Study, masks: Iterable[npt.NDArray[np.bool_] | npt.NDArray[np.uint8]]) -> nib.Nifti1Image:
    """A uint8 NIfTI volume from per-slice masks, on the study's mask grid (:attr:`Study.grid`).

    For a NIfTI input the volume has the input's shape and affine (and its qform/sform codes), so it
    overlays on the input; for a DICOM series it is the display volume ``(col, row, index)`` with
    :attr:`Study.affine` (scanner coordinates). Only one uint8 volume is held; masks may come from a
    generator.

    Args:
        study: a volume study (``is_volume``), as :func:`ctangel.io.discover` gave it.
        masks: one mask per slice, head to feet, in display orientation, each ``(rows, cols)`` like
            ``study.read(i)``; booleans are written as 0/1, uint8 label values as they are.

    Raises:
        ValueError: the study is not a volume, or the masks do not match its slices in number or shape.
    """
    grid = study.grid
    if grid is None or not study.is_volume:
        raise ValueError(f"{study.input}: not a volume study; write its masks as images")
    cols, rows, count = grid.display_volume_shape
    volume = np.zeros((cols, rows, count), dtype=np.uint8)
    written = 0
    for index, mask in enumerate(masks):
        if index >= count:
            raise ValueError(f"{study.input}: more masks than its {count} slices")
        if mask.shape != (rows, cols):
            raise ValueError(f"{study.input}: mask {index} has shape {mask.shape}, its slice is {(rows, cols)}")
        volume[:, :, index] = mask.T
        written += 1
    if written != count:
        raise ValueError(f"{study.input}: {written} masks for {count} slices")
    data = apply_orientation(volume, grid.display_to_grid)
    image = nib.Nifti1Image(np.ascontiguousarray(data), grid.affine)
    image.set_data_dtype(np.uint8)
    if grid.qform_code or grid.sform_code:
        image.set_qform(grid.affine, code=grid.qform_code or grid.sform_code)
        image.set_sform(grid.affine, code=grid.sform_code or grid.qform_code)
    else:
        image.set_sform(grid.affine, code=ALIGNED_XFORM_CODE)
    image.header.set_xyzt_units("mm")
    return image


def save_mask_nifti(
    study: Study, masks: Iterable[npt.NDArray[np.bool_] | npt.NDArray[np.uint8]], path: str | Path
) -> Path:
    """Write :func:`mask_to_nifti` to ``path`` (``.nii`` or ``.nii.gz``) and return the path.

    Raises:
        ValueError: as :func:`mask_to_nifti`.
    """
    path = Path(path)
    nib.save(mask_to_nifti(study, masks), path)
    return path


def _check_size(name: str, image: nib.Nifti1Image | nib.Nifti2Image, shape: tuple[int, ...]) -> None:
    """An uncompressed file must hold all its voxels (a compressed one is checked as it is read)."""
    if name.lower().endswith(".gz"):
        return
    offset = int(getattr(image.dataobj, "offset", 0))  # where the proxy starts reading the voxels
    needed = offset + math.prod(shape) * image.get_data_dtype().itemsize
    size = os.path.getsize(name)
    if size < needed:
        raise InputError(name, f"truncated: {size} bytes, the header needs {needed}; copy the file again")


class _NiftiSlices:
    """The loader of a NIfTI study: display slice ``i`` from the file, a block of file slices at a time."""

    def __init__(
        self,
        name: str,
        image: nib.Nifti1Image | nib.Nifti2Image,
        slice_axis: int,
        file_index: list[int],
        display: DisplayTransform,
        block: int,
    ) -> None:
        self._name = name
        self._proxy = image.dataobj
        self._extra = len(image.shape) - _SPATIAL_AXES
        self._axis = slice_axis
        self._file_index = file_index
        self._display = display
        self._block = block
        self._cached: tuple[int, npt.NDArray[np.float32]] | None = None

    def __call__(self, index: int) -> SlicePixels:
        k = self._file_index[index]
        start = k - k % self._block
        if self._cached is None or self._cached[0] != start:
            self._cached = None  # drop the old block before reading the next
            self._cached = (start, self._read_block(start, k))
        first, block = self._cached
        stored = np.take(block, k - first, axis=self._axis)
        return self._display.apply(stored)

    def _read_block(self, start: int, k: int) -> npt.NDArray[np.float32]:
        stop = min(start + self._block, len(self._file_index))
        slicer: list[slice | int] = [slice(None)] * _SPATIAL_AXES + [0] * self._extra
        slicer[self._axis] = slice(start, stop)
        try:
            return np.asarray(self._proxy[tuple(slicer)], dtype=np.float32)
        except Exception as exc:  # gzip, zlib and nibabel raise many types on damaged files
            raise InputError(
                self._name, f"cannot read slice {k} ({exc}); the file is damaged or truncated, copy it again"
            ) from exc
