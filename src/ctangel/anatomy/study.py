"""A study's anatomy read-out: per lung and per lobe (or zone) lesion volume, % involved and severity score.

:class:`AnatomyCollector` is fed each slice's lung and lesion masks (display orientation) as the pipeline
makes them, keeps them as packed bits, and at the end of the study separates the lungs in 3-D and cuts them
into regions. A region's lung is its lung-mask pixels together with its lesion pixels (dense consolidation
is often left out of a lung mask); a lesion pixel outside the lung mask goes to the lung on its side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ctangel._types import BoolMask
from ctangel.anatomy.lungs import (
    LEFT,
    NO_LUNG,
    RIGHT,
    SIDE_NAMES,
    LungSplit,
    grid_factor,
    side_map,
    split_lungs,
    to_grid,
)
from ctangel.anatomy.packed import PackedMasks
from ctangel.anatomy.regions import METHOD_NOTES, Region, RegionMethod, region_index, regions_of, severity_score
from ctangel.constants import SEVERITY_SCORE_MAX_PER_REGION

#: Label of :meth:`AnatomyCollector.region_map`: 0 outside the lungs, else 1 + the region's index.
OUTSIDE: int = 0


@dataclass
class RegionFigures:
    """One lung's or one region's figures.

    Args:
        lung_px: lung pixels (lung mask or lesion) in it, over all slices.
        lesion_px: lesion pixels in it.
        voxel_volume_ml: one voxel's volume, when known.
    """

    lung_px: int = 0
    lesion_px: int = 0
    voxel_volume_ml: float | None = None

    @property
    def involvement_percent(self) -> float | None:
        """Lesion as a share of the lung, in percent; None with no lung."""
        return None if self.lung_px == 0 else 100.0 * self.lesion_px / self.lung_px

    @property
    def score(self) -> int:
        """The 0-5 severity score."""
        return severity_score(self.involvement_percent or 0.0)

    def to_dict(self) -> dict[str, Any]:
        """Pixel counts, ml (None without spacing), percent (3 decimals) and score."""
        vox, pct = self.voxel_volume_ml, self.involvement_percent
        return {
            "lung_px": self.lung_px,
            "lesion_px": self.lesion_px,
            "lung_volume_ml": None if vox is None else round(self.lung_px * vox, 2),
            "lesion_volume_ml": None if vox is None else round(self.lesion_px * vox, 2),
            "involvement_percent": None if pct is None else round(pct, 3),
            "score": self.score,
        }


@dataclass
class StudyAnatomy:
    """What results.json's ``anatomy`` entry of a study holds.

    Args:
        method: ``lobes``, ``zones``, or ``per-slice`` (single images: only each slice's right/left figures).
        split: how the lungs were told apart (``components``, ``eroded N``, ``midline``, ``per-slice``).
        lungs: per lung (``right``, ``left``).
        regions: per lobe or zone, with its :class:`Region`; empty for ``per-slice``.
        slice_lesion_px: per slice, lesion pixels in the right and in the left lung.
        slice_region_lesion_px: per region key, per slice, lesion pixels.
    """

    method: str
    split: str
    lungs: dict[str, RegionFigures]
    regions: list[tuple[Region, RegionFigures]] = field(default_factory=list)
    slice_lesion_px: dict[str, list[int]] = field(default_factory=dict)
    slice_region_lesion_px: dict[str, list[int]] = field(default_factory=dict)

    @property
    def severity_score(self) -> int | None:
        """Sum of the regions' scores; None for ``per-slice``."""
        return sum(f.score for _, f in self.regions) if self.regions else None

    @property
    def severity_score_max(self) -> int | None:
        """The highest possible total (25 for lobes, 30 for zones)."""
        return SEVERITY_SCORE_MAX_PER_REGION * len(self.regions) if self.regions else None

    def to_dict(self) -> dict[str, Any]:
        """The study's ``anatomy`` entry in results.json."""
        return {
            "regions_method": self.method,
            "regions_note": METHOD_NOTES.get(self.method, "single images: per-slice right/left figures only"),
            "lung_split": self.split,
            "severity_score": self.severity_score,
            "severity_score_max": self.severity_score_max,
            "lungs": {side: figures.to_dict() for side, figures in self.lungs.items()},
            "regions": [
                {"key": r.key, "name": r.name, "side": SIDE_NAMES[r.side], **f.to_dict()} for r, f in self.regions
            ],
            "slices": {
                "lesion_px_right": self.slice_lesion_px.get("right", []),
                "lesion_px_left": self.slice_lesion_px.get("left", []),
                "lesion_px_by_region": self.slice_region_lesion_px,
            },
        }


@dataclass
class _Extent:
    """A lung's box: first and last slice, front and back row (full-resolution pixels, edges)."""

    first: int
    last: int
    front: float
    back: float


class AnatomyCollector:
    """Collects a study's lung and lesion masks and turns them into a :class:`StudyAnatomy`.

    Memory: one bit per pixel of each slice's lung mask, one per pixel of each slice with lesion, and at
    the end a grid 1/16 the size of the study (one byte per cell). A 1000-slice 512x512 study: 32 MiB of
    lung bits, at most as much lesion bits, 16 MiB of grid.

    Args:
        method: ``lobes`` or ``zones``.
        is_volume: whether the slices are one volume (DICOM series, NIfTI); otherwise each slice stands
            alone and only per-slice right/left figures are made.
    """

    def __init__(self, method: RegionMethod, is_volume: bool) -> None:
        self.method: RegionMethod = method
        self.is_volume = is_volume
        self.lungs = PackedMasks()
        self.lesions = PackedMasks()
        self._split: LungSplit | None = None
        self._extents: dict[int, _Extent] = {}
        self._per_slice: dict[int, LungSplit] = {}

    def add(self, index: int, lung: BoolMask, lesion: BoolMask) -> None:
        """Keep slice ``index``'s masks (display orientation, same shape)."""
        self.lungs.put(index, lung)
        self.lesions.put(index, lesion)

    def finish(self, voxel_volume_ml: float | None) -> StudyAnatomy:
        """Separate the lungs, cut them into regions and count; call once all slices are in."""
        n = 1 + max(self.lungs.indices(), default=-1)
        if not self.is_volume or n == 0:
            return self._per_slice_figures(n, voxel_volume_ml)
        self._split = self._split_volume(n)
        self._extents = self._lung_extents(self._split)
        regions = regions_of(self.method)
        lungs = {name: RegionFigures(voxel_volume_ml=voxel_volume_ml) for name in ("right", "left")}
        figures = [RegionFigures(voxel_volume_ml=voxel_volume_ml) for _ in regions]
        by_side: dict[str, list[int]] = {"right": [0] * n, "left": [0] * n}
        by_region: dict[str, list[int]] = {r.key: [0] * n for r in regions}
        for i in range(n):
            if i not in self.lungs:
                continue
            labels = self.region_map(i)
            lesion = self.lesions.get(i)
            counts_all = np.bincount(labels.ravel(), minlength=len(regions) + 1)
            counts_lesion = np.bincount(labels[lesion], minlength=len(regions) + 1)
            for k, region in enumerate(regions):
                side = SIDE_NAMES[region.side]
                figures[k].lung_px += int(counts_all[k + 1])
                figures[k].lesion_px += int(counts_lesion[k + 1])
                lungs[side].lung_px += int(counts_all[k + 1])
                lungs[side].lesion_px += int(counts_lesion[k + 1])
                by_side[side][i] += int(counts_lesion[k + 1])
                by_region[region.key][i] = int(counts_lesion[k + 1])
        return StudyAnatomy(
            self.method, self._split.method, lungs, list(zip(regions, figures, strict=True)), by_side, by_region
        )

    def _split_volume(self, n: int) -> LungSplit:
        present = self.lungs.indices()
        shape = self.lungs.shape(present[0])
        factor = grid_factor(shape)
        first = to_grid(self.lungs.get(present[0]), factor)
        grid = np.zeros((n, *first.shape), dtype=bool)
        for i in present:
            grid[i] = to_grid(self.lungs.get(i), factor)
        return split_lungs(grid, factor)

    @staticmethod
    def _lung_extents(split: LungSplit) -> dict[int, _Extent]:
        out = {}
        for side in (RIGHT, LEFT):
            cells = split.labels == side
            if not cells.any():
                continue
            slices = np.nonzero(cells.any(axis=(1, 2)))[0]
            rows = np.nonzero(cells.any(axis=(0, 2)))[0]
            out[side] = _Extent(
                int(slices[0]), int(slices[-1]), float(rows[0] * split.factor), float((rows[-1] + 1) * split.factor)
            )
        return out

    def side_map(self, index: int) -> npt.NDArray[np.int8]:
        """Slice ``index``'s lung and lesion pixels labelled right or left (0 elsewhere), after :meth:`finish`."""
        pixels = self.lungs.get(index) | self.lesions.get(index)
        split = self._split if self.is_volume else self._per_slice.get(index)
        if split is None:
            raise RuntimeError("AnatomyCollector.finish() must run first")
        cells = split.labels[index] if self.is_volume else split.labels[0]
        return side_map(pixels, cells, split.factor, split.midline_px)

    def region_map(self, index: int) -> npt.NDArray[np.int8]:
        """Slice ``index``'s pixels labelled 1 + their region's index (0 outside), volumes after :meth:`finish`."""
        sides = self.side_map(index)
        out = np.zeros(sides.shape, dtype=np.int8)
        for side, extent in self._extents.items():
            where = sides == side
            if not where.any():
                continue
            height = extent.last - extent.first + 1
            t = min(max((index - extent.first + 0.5) / height, 0.0), 1.0)
            rows = np.nonzero(where)[0].astype(np.float64)
            u = np.clip((rows + 0.5 - extent.front) / max(extent.back - extent.front, 1.0), 0.0, 1.0)
            out[where] = 1 + region_index(self.method, side, t, u)
        return out

    def _per_slice_figures(self, n: int, voxel_volume_ml: float | None) -> StudyAnatomy:
        lungs = {name: RegionFigures(voxel_volume_ml=None) for name in ("right", "left")}
        by_side: dict[str, list[int]] = {"right": [0] * n, "left": [0] * n}
        for i in range(n):
            if i not in self.lungs:
                continue
            lung = self.lungs.get(i)
            factor = grid_factor(lung.shape)
            self._per_slice[i] = split_lungs(to_grid(lung, factor)[None], factor)
            sides = self.side_map(i)
            lesion = self.lesions.get(i)
            for side, name in SIDE_NAMES.items():
                lesion_px = int(np.count_nonzero(lesion & (sides == side)))
                lungs[name].lung_px += int(np.count_nonzero(sides == side))
                lungs[name].lesion_px += lesion_px
                by_side[name][i] = lesion_px
        return StudyAnatomy("per-slice", "per-slice", lungs, [], by_side, {})


__all__ = ["NO_LUNG", "OUTSIDE", "AnatomyCollector", "RegionFigures", "StudyAnatomy"]
