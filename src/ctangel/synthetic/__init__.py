"""A synthetic chest CT phantom with COVID-19-like lesions, for demos and tests that need no download.

``make_phantom(n_slices, seed)`` builds the volume (HU, display orientation) and its ground truth;
``write_phantom(phantom, out)`` writes it as a DICOM series in ``out/series/``, the truth in ``out/truth/``.
Names are imported on first use, so that the CLI can read :mod:`ctangel.synthetic.options` quickly.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "DEFAULT_SLICES": "options",
    "Compression": "options",
    "Lesion": "lesions",
    "LesionKind": "lesions",
    "Phantom": "phantom",
    "make_phantom": "phantom",
    "PhantomFiles": "dicom_writer",
    "write_dicom_series": "dicom_writer",
    "write_phantom": "dicom_writer",
    "write_truth": "dicom_writer",
    "write_phantom_archive": "archive",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'ctangel.synthetic' has no attribute {name!r}")
    return getattr(import_module(f"ctangel.synthetic.{_WHERE[name]}"), name)
