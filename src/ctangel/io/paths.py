"""File-name helpers shared by the readers: natural sort order and what a file's name says it holds."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final

#: File endings read as NIfTI volumes (compared in lower case).
NIFTI_SUFFIXES: Final = (".nii", ".nii.gz")

_DIGITS: Final = re.compile(r"(\d+)")

#: A natural sort key: text runs (lower case) and number runs (as integers), then the text itself.
NaturalKey = tuple[tuple[str | int, ...], str]


def natural_key(text: str | Path) -> NaturalKey:
    """Sort key that orders ``"s2"`` before ``"s10"`` (and ``"S1"`` next to ``"s1"``), deterministically.

    Text and number runs alternate in the split, so two keys always compare like with like.
    """
    text = str(text)
    parts = tuple(int(run) if i % 2 else run.lower() for i, run in enumerate(_DIGITS.split(text)))
    return parts, text


def is_nifti_file(path: str | Path) -> bool:
    """Whether ``path`` has a NIfTI file ending (``.nii`` or ``.nii.gz``)."""
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def nifti_stem(path: str | Path) -> str:
    """The file name without ``.nii`` / ``.nii.gz``."""
    name = Path(path).name
    for suffix in sorted(NIFTI_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def folder_name(folder: str | Path) -> str:
    """A folder's own name, also for ``"."`` or ``"/"`` (then the name of what it resolves to)."""
    name = Path(folder).name
    if name and name not in (".", ".."):
        return name
    return Path(os.path.abspath(folder)).name or str(folder)


def is_hidden(name: str) -> bool:
    """Whether a file or folder name is hidden (``.DS_Store``, macOS ``._`` files, ``.git``): never input."""
    return name.startswith(".")
