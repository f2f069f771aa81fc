"""The right and the left lung told apart in 3-D, from per-slice lung masks in display orientation.

Display orientation puts the patient's front at the top and the patient's left on the image's right, so
the right lung is the one with the smaller column numbers.

The split works on a coarse grid (:data:`~ctangel.constants.LUNG_SPLIT_GRID_SIDE`): the two largest 3-D
components are the lungs when they are of comparable size and lie on either side of the midline; lungs
joined in front of or behind the heart are eroded in-plane until they come apart, and the parts then grown
back through the lung; what stays unassigned (small pieces, or lungs that never come apart) goes by the
midline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from ctangel._types import BoolMask
from ctangel.constants import LUNG_PAIR_MIN_RATIO, LUNG_SPLIT_GRID_SIDE, LUNG_SPLIT_MAX_EROSIONS

#: Label values of :func:`split_lungs` and :func:`side_map`.
NO_LUNG: Final = 0
RIGHT: Final = 1
LEFT: Final = 2
SIDE_NAMES: Final = {RIGHT: "right", LEFT: "left"}

#: Erosion and growth in-plane only, so that a single slice (or slices far apart) splits as well.
_IN_PLANE: Final = ndimage.generate_binary_structure(3, 1) & np.array([0, 1, 0], dtype=bool)[:, None, None]
#: 3-D components: faces only.
_FACES: Final = ndimage.generate_binary_structure(3, 1)

LabelVolume = npt.NDArray[np.int8]


def grid_factor(shape: tuple[int, int]) -> int:
    """Pixels per grid cell along each axis for a slice of ``shape`` (1 for small slices)."""
    return max(1, math.ceil(max(shape) / LUNG_SPLIT_GRID_SIDE))


def to_grid(mask: BoolMask, factor: int) -> BoolMask:
    """A mask on the coarse grid: a cell is set when at least half its pixels are.

    Returns:
        ``(ceil(rows / factor), ceil(cols / factor))`` booleans.
    """
    if factor == 1:
        return mask.astype(bool, copy=True)
    rows, cols = mask.shape
    gr, gc = -(-rows // factor), -(-cols // factor)
    padded = np.zeros((gr * factor, gc * factor), dtype=np.uint16)
    padded[:rows, :cols] = mask
    sums = padded.reshape(gr, factor, gc, factor).sum(axis=(1, 3))
    return np.asarray(2 * sums >= factor * factor)


@dataclass
class LungSplit:
    """The lungs on the grid.

    Args:
        labels: ``(slices, grid rows, grid cols)``: :data:`NO_LUNG`, :data:`RIGHT` or :data:`LEFT`.
        factor: pixels per grid cell along each axis.
        midline_px: the column (full-resolution pixels) between the lungs.
        method: how they were told apart: ``components``, ``eroded N`` (N cells) or ``midline``.
    """

    labels: LabelVolume
    factor: int
    midline_px: float
    method: str


def split_lungs(grid: npt.NDArray[np.bool_], factor: int) -> LungSplit:
    """Label each lung cell of ``grid`` (``(slices, rows, cols)``, display orientation) right or left."""
    labels = np.zeros(grid.shape, dtype=np.int8)
    if not grid.any():
        return LungSplit(labels, factor, grid.shape[2] * factor / 2.0, "midline")
    cols = np.nonzero(grid.any(axis=(0, 1)))[0]
    midline_cells = (cols[0] + cols[-1] + 1) / 2.0
    seeds, method = _seeds(grid, midline_cells)
    if seeds is not None:
        labels = _grow(seeds, grid)
    unassigned = grid & (labels == NO_LUNG)
    if unassigned.any():
        column = np.arange(grid.shape[2])[None, None, :] + 0.5
        labels[unassigned] = np.where(np.broadcast_to(column >= midline_cells, grid.shape), LEFT, RIGHT)[unassigned]
    right, left = (labels == RIGHT).any(axis=(0, 1)), (labels == LEFT).any(axis=(0, 1))
    if right.any() and left.any():
        midline_cells = (np.nonzero(right)[0][-1] + 1 + np.nonzero(left)[0][0]) / 2.0
    return LungSplit(labels, factor, float(midline_cells * factor), method)


def _seeds(grid: npt.NDArray[np.bool_], midline: float) -> tuple[LabelVolume | None, str]:
    """Two seeds labelled right and left, or None when the lungs do not come apart."""
    found = _pair(grid, midline)
    if found is not None:
        return found, "components"
    components, n = ndimage.label(grid, structure=_FACES)
    largest = components == (1 + int(np.argmax(np.bincount(components.ravel())[1:]))) if n else grid
    for k in range(1, LUNG_SPLIT_MAX_EROSIONS + 1):
        eroded = ndimage.binary_erosion(largest, structure=_IN_PLANE, iterations=k)
        if not eroded.any():
            break
        found = _pair(eroded, midline)
        if found is not None:
            return found, f"eroded {k}"
    return None, "midline"


def _pair(mask: npt.NDArray[np.bool_], midline: float) -> LabelVolume | None:
    """The two largest components as right and left, when comparable in size and on either side."""
    components, n = ndimage.label(mask, structure=_FACES)
    if n < 2:
        return None
    sizes = np.bincount(components.ravel())[1:]
    first, second = np.argsort(sizes)[::-1][:2] + 1
    if sizes[second - 1] < LUNG_PAIR_MIN_RATIO * sizes[first - 1]:
        return None
    x_first = float(np.nonzero(components == first)[2].mean()) + 0.5
    x_second = float(np.nonzero(components == second)[2].mean()) + 0.5
    if (x_first - midline) * (x_second - midline) >= 0:
        return None
    left, right = (first, second) if x_first > x_second else (second, first)
    seeds = np.zeros(mask.shape, dtype=np.int8)
    seeds[components == right] = RIGHT
    seeds[components == left] = LEFT
    return seeds


def _grow(seeds: LabelVolume, grid: npt.NDArray[np.bool_]) -> LabelVolume:
    """Grow the seeds through ``grid`` a cell at a time (in-plane) until nothing changes."""
    labels = seeds.copy()
    while True:
        grown = ndimage.grey_dilation(labels, footprint=_IN_PLANE)
        new = grid & (labels == NO_LUNG) & (grown != NO_LUNG)
        if not new.any():
            return labels
        labels[new] = grown[new]


def side_map(pixels: BoolMask, cells: LabelVolume, factor: int, midline_px: float) -> LabelVolume:
    """Right/left label of every set pixel of ``pixels`` (one slice, full resolution).

    Args:
        pixels: the pixels to label (lung and lesion), ``(rows, cols)``.
        cells: the slice's grid labels from :func:`split_lungs`, ``(grid rows, grid cols)``.
        factor: pixels per grid cell.
        midline_px: pixels whose cell is unlabelled go right of this column to the left lung.

    Returns:
        ``(rows, cols)`` int8: :data:`NO_LUNG` where ``pixels`` is unset.
    """
    rows, cols = pixels.shape
    up = np.repeat(np.repeat(cells, factor, axis=0), factor, axis=1)[:rows, :cols]
    by_midline = np.where(np.arange(cols)[None, :] + 0.5 >= midline_px, LEFT, RIGHT).astype(np.int8)
    out = np.where(up != NO_LUNG, up, by_midline).astype(np.int8)
    out[~pixels] = NO_LUNG
    return out
