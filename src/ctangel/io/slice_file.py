"""One slice from one file, whatever its format: the form training folders hold."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from ctangel._types import PixelKind
from ctangel.io.dicom import read_dicom_slice
from ctangel.io.image import is_image_file, read_image

#: File endings read as DICOM (files with no ending are tried as DICOM too).
DICOM_SUFFIXES: Final = frozenset({".dcm", ".dicom", ".ima", ""})


def is_slice_file(path: Path) -> bool:
    """Whether ``path`` names a file :func:`read_slice_file` can read, judged by its ending."""
    return is_image_file(path) or path.suffix.lower() in DICOM_SUFFIXES


def read_slice_file(path: str | Path) -> tuple[npt.NDArray[np.float32] | npt.NDArray[np.uint8], PixelKind]:
    """Read a single slice: a DICOM file as HU, an image file as 8-bit grey values.

    Returns:
        ``(pixels, kind)`` with ``pixels`` of shape ``(rows, cols)``.

    Raises:
        InputError: the file cannot be read.
    """
    path = Path(path)
    if is_image_file(path):
        return read_image(path), "uint8"
    return read_dicom_slice(path), "hu"
