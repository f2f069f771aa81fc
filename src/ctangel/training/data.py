"""Training data in CT-Angel's layout: ``{split}_images/`` beside ``{split}_labels/``, paired by file stem.

Images are 8-bit slices (PNG, JPEG, ...) or DICOM files (HU); labels are images, white = foreground, cut at
:data:`ctangel.constants.LABEL_THRESHOLD`. An image with an all-black label is a negative example.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ctangel._types import BoolMask, Box, PixelKind
from ctangel.constants import LABEL_THRESHOLD
from ctangel.errors import InputError
from ctangel.io.image import is_image_file, read_label
from ctangel.io.slice_file import is_slice_file, read_slice_file


@dataclass
class Example:
    """One training slice with its label.

    Args:
        name: the image file's stem.
        pixels: the slice, HU (float32) or 8-bit grey values, ``(rows, cols)``.
        kind: ``"hu"`` or ``"uint8"``.
        label: foreground mask of the same shape.
        lung_box: the lung box the lung stage finds on this slice (filled for the lesion task).
        lung: the lung mask the lung stage finds on HU slices (filled for the lesion task; lesions may be
            drawn into it).
    """

    name: str
    pixels: npt.NDArray[np.float32] | npt.NDArray[np.uint8]
    kind: PixelKind
    label: BoolMask
    lung_box: Box | None = None
    lung: BoolMask | None = None

    @property
    def positive(self) -> bool:
        """Whether the label holds any foreground."""
        return bool(self.label.any())


def find_pairs(root: str | Path, split: str) -> list[tuple[Path, Path]]:
    """The ``(image, label)`` file pairs of one split, sorted by name.

    Raises:
        InputError: the folders are missing, or an image has no label.
    """
    root = Path(root)
    img_dir, lab_dir = root / f"{split}_images", root / f"{split}_labels"
    for d in (img_dir, lab_dir):
        if not d.is_dir():
            raise InputError(d, f"folder missing; a training folder holds {split}_images/ and {split}_labels/")
    labels = {p.stem: p for p in lab_dir.iterdir() if is_image_file(p)}
    pairs = []
    for img in sorted(img_dir.iterdir()):
        if img.name.startswith(".") or not is_slice_file(img) or img.is_dir():
            continue
        lab = labels.get(img.stem)
        if lab is None:
            raise InputError(img, f"no label image with the stem {img.stem!r} in {lab_dir}")
        pairs.append((img, lab))
    if not pairs:
        raise InputError(img_dir, "holds no images")
    return pairs


def load_examples(root: str | Path, split: str) -> list[Example]:
    """Read every pair of a split into memory.

    Raises:
        InputError: a file cannot be read, or a label's size differs from its image's.
    """
    out = []
    for img_path, lab_path in find_pairs(root, split):
        pixels, kind = read_slice_file(img_path)
        label = read_label(lab_path, LABEL_THRESHOLD)
        if label.shape != pixels.shape:
            raise InputError(lab_path, f"label is {label.shape[::-1]} px but its image is {pixels.shape[::-1]} px")
        out.append(Example(img_path.stem, pixels, kind, label))
    return out
