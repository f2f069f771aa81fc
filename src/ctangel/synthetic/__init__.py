"""A synthetic chest CT phantom with COVID-19-like lesions, for demos and tests that need no download.

``make_phantom(n_slices, seed)`` builds the volume (HU, display orientation) and its ground truth;
``write_phantom(phantom, out)`` writes it as a DICOM series in ``out/series/``, the truth in ``out/truth/``.
"""

from __future__ import annotations

from ctangel.synthetic.dicom_writer import (
    Compression,
    PhantomFiles,
    write_dicom_series,
    write_phantom,
    write_truth,
)
from ctangel.synthetic.lesions import Lesion, LesionKind
from ctangel.synthetic.phantom import DEFAULT_SLICES, Phantom, make_phantom

__all__ = [
    "DEFAULT_SLICES",
    "Compression",
    "Lesion",
    "LesionKind",
    "Phantom",
    "PhantomFiles",
    "make_phantom",
    "write_dicom_series",
    "write_phantom",
    "write_truth",
]
