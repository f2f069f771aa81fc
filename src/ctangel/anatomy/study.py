"""A study's anatomy read-out: per lung and per lobe (or zone) lesion volume, % involved and severity score.

:class:`AnatomyCollector` is fed each slice's lung and lesion masks (display orientation) as the pipeline
makes them, keeps them as packed bits, and at the end of the study separates the lungs in 3-D and cuts them
into regions. A region's lung is its lung-mask pixels together with its lesion pixels (dense consolidation
is often left out of a lung mask); a lesion pixel outside the lung mask goes to the lung on its side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
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
    PackedVolume,
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

    Memory, a 512x512 study: some 100 bytes a slice of index, 2 KiB a slice of lung cells on the split's grid
    (volumes), and the masks' bits (32 KiB a slice of lung, as much again for a slice with lesion) unless
    ``spill_dir`` keeps those on disk. At the end, while the lungs are told apart, about a byte per cell of
    the lungs' box on the grid (a cell is 4x4 pixels).

    Args:
        method: ``lobes`` or ``zones``.
        is_volume: whether the slices are one volume (DICOM series, NIfTI); otherwise each slice stands
            alone and only per-slice right/left figures are made.
        spill_dir: keep the lung and lesion masks in temporary files in this folder (see
            :class:`PackedMasks`); None keeps them in memory. Call :meth:`close` when done.
    """

    def __init__(self, method: RegionMethod, is_volume: bool, spill_dir: Path | None = None) -> None:
        self.method: RegionMethod = method
        self.is_volume = is_volume
        self.lungs = PackedMasks(spill_dir)
        self.lesions = PackedMasks(spill_dir)
        self._cells = PackedMasks()  # volumes: each slice's lung on the split's grid
        self._factor = 1
        self._split: LungSplit | None = None
        self._extents: dict[int, _Extent] = {}
        self._per_slice: dict[int, LungSplit] = {}

    def add(self, index: int, lung: BoolMask, lesion: BoolMask) -> None:
        """Keep slice ``index``'s masks (display orientation, same shape).

        Raises:
            OutputError: the masks cannot be written to ``spill_dir``.
        """
        self.lungs.put(index, lung)
        self.lesions.put(index, lesion)
        if self.is_volume:
            self._factor = grid_factor(lung.shape)
            self._cells.put(index, to_grid(lung, self._factor))

    def close(self) -> None:
        """Let the masks' temporary files go; the maps of :meth:`side_map` and :meth:`region_map` go with them."""
        self.lungs.close()
        self.lesions.close()

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
            counts_all, counts_lesion = self._region_counts(i, len(regions) + 1)
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
        """The lungs told apart on the grid of the lungs' box (the rest of the grid is never held)."""
        present = self._cells.indices()
        rows, cols = self._cells.shape(present[0])
        first, last = n, -1
        row_any, col_any = np.zeros(rows, dtype=bool), np.zeros(cols, dtype=bool)
        for i in present:
            if self._cells.count(i):
                cells = self._cells.get(i)
                first, last = min(first, i), max(last, i)
                row_any |= cells.any(axis=1)
                col_any |= cells.any(axis=0)
        if last < 0:
            return split_lungs(np.zeros((0, 0, 0), dtype=bool), self._factor, shape=(n, rows, cols))
        r, c = np.nonzero(row_any)[0], np.nonzero(col_any)[0]
        box = (slice(int(r[0]), int(r[-1]) + 1), slice(int(c[0]), int(c[-1]) + 1))
        grid = PackedVolume((last - first + 1, box[0].stop - box[0].start, box[1].stop - box[1].start))
        for i in range(first, last + 1):
            if self._cells.count(i):
                grid[i - first : i - first + 1] = self._cells.get(i)[None, box[0], box[1]]
        return split_lungs(grid, self._factor, origin=(first, box[0].start, box[1].start), shape=(n, rows, cols))

    @staticmethod
    def _lung_extents(split: LungSplit) -> dict[int, _Extent]:
        out = {}
        for side in (RIGHT, LEFT):
            extent = split.extent(side)
            if extent is not None:
                first, last, front, back = extent
                out[side] = _Extent(first, last, float(front * split.factor), float((back + 1) * split.factor))
        return out

    def side_map(self, index: int) -> npt.NDArray[np.int8]:
        """Slice ``index``'s lung and lesion pixels labelled right or left (0 elsewhere), after :meth:`finish`."""
        pixels = self.lungs.get(index) | self.lesions.get(index)
        return self._side_map(index, pixels)

    def region_map(self, index: int) -> npt.NDArray[np.int8]:
        """Slice ``index``'s pixels labelled 1 + their region's index (0 outside), volumes after :meth:`finish`."""
        sides = self.side_map(index)
        table = self._row_regions(index, sides.shape[0])
        inside = np.where(sides == LEFT, table[LEFT][:, None], OUTSIDE).astype(np.int8)
        return np.where(sides == RIGHT, table[RIGHT][:, None], inside)

    def _side_map(self, index: int, pixels: BoolMask) -> npt.NDArray[np.int8]:
        split = self._split if self.is_volume else self._per_slice.get(index)
        if split is None:
            raise RuntimeError("AnatomyCollector.finish() must run first")
        cells = split.slice_labels(index if self.is_volume else 0)
        return side_map(pixels, cells, split.factor, split.midline_px)

    def _row_regions(self, index: int, rows: int) -> npt.NDArray[np.int8]:
        """``(3, rows)``: per side (:data:`NO_LUNG`, :data:`RIGHT`, :data:`LEFT`), 1 + the region of each row of
        slice ``index`` (a region depends only on the slice's height in the lung and the row's depth), or
        :data:`OUTSIDE` for a side without lung."""
        table = np.full((3, rows), OUTSIDE, dtype=np.int8)
        for side, extent in self._extents.items():
            height = extent.last - extent.first + 1
            t = min(max((index - extent.first + 0.5) / height, 0.0), 1.0)
            depth = max(extent.back - extent.front, 1.0)
            u = np.clip((np.arange(rows) + 0.5 - extent.front) / depth, 0.0, 1.0)
            table[side] = 1 + region_index(self.method, side, t, u)
        return table

    def _region_counts(self, index: int, labels: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Slice ``index``'s pixels, and its lesion pixels, per label of :meth:`region_map` (``labels`` of
        them), counted a row at a time."""
        lesion = self.lesions.get(index)
        sides = self._side_map(index, self.lungs.get(index) | lesion)
        table = self._row_regions(index, sides.shape[0])
        counts = np.zeros((2, labels), dtype=np.int64)
        for side in self._extents:
            where = sides == side
            for k, pixels in enumerate((where, where & lesion)):
                per_row = np.count_nonzero(pixels, axis=1)
                counts[k] += np.bincount(table[side], weights=per_row, minlength=labels).astype(np.int64)
        return counts[0], counts[1]

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
