"""Ground-truth label images (CT-Angel's train_labels: white lesion on black), found by their slice's stem."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage as ndi

from ctangel._types import BoolMask, Box
from ctangel.constants import LABEL_THRESHOLD
from ctangel.errors import ConfigError, InputError
from ctangel.io.image import is_image_file, read_label
from ctangel.log import logger

if TYPE_CHECKING:
    from ctangel.io.study import Study

#: 8-connectivity: diagonal neighbours belong to the same lesion, as in the model's post-processing.
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
#: ``PATH#k``: slice ``k`` of a volume file, which no label image stands for.
_VOLUME_SLICE = re.compile(r"#\d+$")


class LabelIndex:
    """The label images under a folder (its subfolders included), looked up by the stem of a slice's file.

    The folder is listed once, here. A slice ``scans/p1/12.png`` is labelled by any image ``12.<ext>`` under
    the folder; when several share that stem, the one in a folder named like the slice's (``p1``) is taken,
    and when that does not decide, none is (with a warning).

    Args:
        folder: the labels folder.

    Raises:
        ConfigError: ``folder`` is not a folder.
    """

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            raise ConfigError(f"{folder}: the labels folder does not exist; give --labels a folder of label images")
        self.folder = folder
        self._by_stem: dict[str, list[Path]] = {}
        for path in sorted(folder.rglob("*")):
            if is_image_file(path) and path.is_file():
                self._by_stem.setdefault(path.stem, []).append(path)
        logger.info("%s: %d label images", folder, sum(len(v) for v in self._by_stem.values()))

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_stem.values())

    def find(self, source: str) -> Path | None:
        """The label image of the slice read from ``source``, or None."""
        if _VOLUME_SLICE.search(source):
            return None
        src = Path(source)
        candidates = self._by_stem.get(src.stem, [])
        if len(candidates) > 1:
            candidates = [p for p in candidates if p.parent.name == src.parent.name]
            if len(candidates) != 1:
                logger.warning("%s: several label images under %s have its stem; none used", source, self.folder)
                return None
        return candidates[0] if candidates else None

    def for_study(self, study: Study) -> dict[int, Path]:
        """The label image of each slice of ``study`` that has one, by slice index."""
        found = {i: p for i, s in enumerate(study.sources) if (p := self.find(s)) is not None}
        logger.info("%s: %d of %d slices have a label image", study.input, len(found), len(study))
        return found

    @staticmethod
    def read(path: Path, study: Study, display_shape: tuple[int, int]) -> BoolMask | None:
        """A label image as lesion pixels in display orientation, or None (with a warning) when it cannot be
        read or its size is not the slice's.

        Args:
            path: the label image, in the slice's stored orientation; white (over ``LABEL_THRESHOLD``)
                is lesion.
            study: the slice's study (for its display transform).
            display_shape: ``(rows, cols)`` of the slice in display orientation.
        """
        try:
            mask = read_label(path, LABEL_THRESHOLD)
        except InputError as exc:
            logger.warning("%s; the label is not drawn", exc)
            return None
        shown = study.display.apply(mask)
        if shown.shape != display_shape:
            logger.warning(
                "%s: label is %dx%d, its slice %dx%d (rows x cols, display); the label is not drawn",
                path,
                *shown.shape,
                *display_shape,
            )
            return None
        return shown.astype(bool)

    @staticmethod
    def boxes(mask: BoolMask) -> list[Box]:
        """Boxes (edges) of the 8-connected components of ``mask``, largest component first."""
        labels, n = ndi.label(mask, structure=EIGHT_CONNECTED)
        if n == 0:
            return []
        areas = np.bincount(labels.ravel(), minlength=n + 1)
        found = [
            (int(areas[i]), (float(sl[1].start), float(sl[0].start), float(sl[1].stop), float(sl[0].stop)))
            for i, sl in enumerate(ndi.find_objects(labels), start=1)
            if sl is not None
        ]
        found.sort(key=lambda item: -item[0])
        return [box for _, box in found]
