"""The right and the left lung told apart in 3-D, from per-slice lung masks in display orientation.

Display orientation puts the patient's front at the top and the patient's left on the image's right, so
the right lung is the one with the smaller column numbers.

The split works on a coarse grid (:data:`~ctangel.constants.LUNG_SPLIT_GRID_SIDE`): the two largest 3-D
components are the lungs when they are of comparable size and lie on either side of the midline; lungs
joined in front of or behind the heart are eroded in-plane until they come apart, and the parts then grown
back through the lung; what stays unassigned (small pieces, or lungs that never come apart) goes by the
midline.

Memory: a byte per cell of the lungs' box on the grid (the labels), the lung cells themselves at a bit per
cell (:class:`PackedVolume`); 3-D components are labelled, and cells eroded and grown, :data:`SLAB_SLICES`
slices at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from ctangel._types import BoolMask
from ctangel.constants import LUNG_PAIR_MIN_RATIO, LUNG_SPLIT_GRID_SIDE, LUNG_SPLIT_MAX_EROSIONS

#: Label values of :func:`split_lungs` and :func:`side_map`.
NO_LUNG: Final = 0
RIGHT: Final = 1
LEFT: Final = 2
SIDE_NAMES: Final = {RIGHT: "right", LEFT: "left"}

#: Slices labelled, eroded or grown at a time: the working memory of a split, whatever the study's length.
SLAB_SLICES: Final = 64

#: Erosion and growth in-plane only, so that a single slice (or slices far apart) splits as well.
_IN_PLANE: Final = ndimage.generate_binary_structure(3, 1) & np.array([0, 1, 0], dtype=bool)[:, None, None]
#: 3-D components: faces only.
_FACES: Final = ndimage.generate_binary_structure(3, 1)

LabelVolume = npt.NDArray[np.int8]
#: ``(slices, rows, cols)`` of a grid, or of a point in it.
Index3 = tuple[int, int, int]


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
    values = mask.view(np.uint8) if mask.dtype == np.bool_ else mask.astype(np.uint8)
    if (gr * factor, gc * factor) != (rows, cols):
        padded = np.zeros((gr * factor, gc * factor), dtype=np.uint8)
        padded[:rows, :cols] = values
        values = padded
    # Rows of each cell first (long contiguous sums), then its columns.
    sums = values.reshape(gr, factor, gc * factor).sum(axis=1, dtype=np.uint32)
    sums = sums.reshape(gr, gc, factor).sum(axis=2, dtype=np.uint32)
    return np.asarray(2 * sums >= factor * factor)


@dataclass
class LungSplit:
    """The lungs on the grid, held for the lungs' box only.

    Args:
        cells: the box of the grid that holds lung cells, ``(slices, rows, cols)``: :data:`NO_LUNG`,
            :data:`RIGHT` or :data:`LEFT`.
        origin: where ``cells[0, 0, 0]`` lies on the whole grid.
        shape: the whole grid, ``(slices, grid rows, grid cols)``.
        factor: pixels per grid cell along each axis.
        midline_px: the column (full-resolution pixels) between the lungs.
        method: how they were told apart: ``components``, ``eroded N`` (N cells) or ``midline``.
    """

    cells: LabelVolume
    origin: Index3
    shape: Index3
    factor: int
    midline_px: float
    method: str

    @property
    def labels(self) -> LabelVolume:
        """The whole grid's labels, ``shape`` (a new array of a byte per cell)."""
        out = np.zeros(self.shape, dtype=np.int8)
        out[self._box] = self.cells
        return out

    def slice_labels(self, index: int) -> LabelVolume:
        """Slice ``index``'s labels, ``(grid rows, grid cols)``."""
        out = np.zeros(self.shape[1:], dtype=np.int8)
        k = index - self.origin[0]
        if 0 <= k < self.cells.shape[0]:
            out[self._box[1:]] = self.cells[k]
        return out

    def extent(self, side: int) -> tuple[int, int, int, int] | None:
        """``(first slice, last slice, first row, last row)`` on the grid of ``side``'s cells; None without any."""
        slices = np.zeros(self.cells.shape[0], dtype=bool)
        rows = np.zeros(self.cells.shape[1], dtype=bool)
        for slab in slabs(self.cells.shape[0]):
            cells = self.cells[slab] == side
            slices[slab] = cells.any(axis=(1, 2))
            rows |= cells.any(axis=(0, 2))
        if not slices.any():
            return None
        s, r = np.nonzero(slices)[0], np.nonzero(rows)[0]
        z0, r0 = self.origin[0], self.origin[1]
        return int(s[0]) + z0, int(s[-1]) + z0, int(r[0]) + r0, int(r[-1]) + r0

    @property
    def _box(self) -> tuple[slice, slice, slice]:
        (z, r, c), (nz, nr, nc) = self.origin, self.cells.shape
        return slice(z, z + nz), slice(r, r + nr), slice(c, c + nc)


class PackedVolume:
    """A boolean volume ``(slices, rows, cols)`` at a bit per cell, read and written a slab of slices at a time.

    Args:
        shape: the volume's shape; every cell starts unset.
    """

    def __init__(self, shape: Index3) -> None:
        self.shape = shape
        self._bits = np.zeros((shape[0], shape[1], -(-shape[2] // 8)), dtype=np.uint8)

    @classmethod
    def of(cls, mask: npt.NDArray[np.bool_]) -> PackedVolume:
        """``mask`` packed."""
        out = cls((mask.shape[0], mask.shape[1], mask.shape[2]))
        for slab in slabs(len(out)):
            out[slab] = mask[slab]
        return out

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, slab: slice) -> npt.NDArray[np.bool_]:
        """Slices ``slab`` as booleans (a new array)."""
        return np.unpackbits(self._bits[slab], axis=2, count=self.shape[2]).view(bool)

    def __setitem__(self, slab: slice, mask: npt.NDArray[np.bool_]) -> None:
        self._bits[slab] = np.packbits(mask, axis=2)

    def any(self) -> bool:
        """Whether any cell is set."""
        return bool(self._bits.any())

    def box(self) -> tuple[slice, slice, slice] | None:
        """The smallest box holding every set cell, or None when none is set."""
        slices, rows = np.nonzero(self._bits.any(axis=(1, 2)))[0], np.nonzero(self._bits.any(axis=(0, 2)))[0]
        if not len(slices):
            return None
        either = np.bitwise_or.reduce(self._bits, axis=(0, 1))
        cols = np.nonzero(np.unpackbits(either, count=self.shape[2]))[0]
        return _span(slices), _span(rows), _span(cols)

    def crop(self, box: tuple[slice, slice, slice]) -> PackedVolume:
        """The cells inside ``box`` (slices with their starts and stops)."""
        z, r, c = box
        out = PackedVolume((z.stop - z.start, r.stop - r.start, c.stop - c.start))
        for slab in slabs(len(out)):
            out[slab] = self[slice(slab.start + z.start, slab.stop + z.start)][:, r, c]
        return out


def split_lungs(
    grid: npt.NDArray[np.bool_] | PackedVolume, factor: int, origin: Index3 = (0, 0, 0), shape: Index3 | None = None
) -> LungSplit:
    """Label each lung cell of ``grid`` (``(slices, rows, cols)``, display orientation) right or left.

    Args:
        grid: the grid's lung cells: the whole grid, or a box of it that holds them all.
        factor: pixels per grid cell along each axis.
        origin: where ``grid[0, 0, 0]`` lies on the whole grid.
        shape: the whole grid (default: ``grid.shape``).
    """
    packed = grid if isinstance(grid, PackedVolume) else PackedVolume.of(grid)
    whole: Index3 = shape or packed.shape
    box = packed.box()
    if box is None:
        return LungSplit(np.zeros((0, 0, 0), dtype=np.int8), origin, whole, factor, whole[2] * factor / 2.0, "midline")
    lungs = packed.crop(box)
    del packed
    at: Index3 = (origin[0] + box[0].start, origin[1] + box[1].start, origin[2] + box[2].start)
    columns = at[2] + np.arange(lungs.shape[2])  # on the whole grid
    midline_cells = (columns[0] + columns[-1] + 1) / 2.0
    seeds, method = _seeds(lungs, midline_cells, columns)
    if seeds is None:
        labels = np.zeros(lungs.shape, dtype=np.int8)
    else:
        labels = seeds
        for slab in slabs(len(lungs)):  # in-plane: a slab grows alone
            labels[slab] = _grow(seeds[slab], lungs[slab])
    by_midline = np.where(columns + 0.5 >= midline_cells, LEFT, RIGHT).astype(np.int8)
    right, left = np.zeros(len(columns), dtype=bool), np.zeros(len(columns), dtype=bool)
    for slab in slabs(len(lungs)):
        np.copyto(labels[slab], by_midline, where=lungs[slab] & (labels[slab] == NO_LUNG))
        right |= (labels[slab] == RIGHT).any(axis=(0, 1))
        left |= (labels[slab] == LEFT).any(axis=(0, 1))
    if right.any() and left.any():
        midline_cells = (columns[np.nonzero(right)[0][-1]] + 1 + columns[np.nonzero(left)[0][0]]) / 2.0
    return LungSplit(labels, at, whole, factor, float(midline_cells * factor), method)


def _span(indices: npt.NDArray[np.intp]) -> slice:
    """From the first to the last of ``indices`` (sorted), both in."""
    return slice(int(indices[0]), int(indices[-1]) + 1)


def slabs(n: int) -> list[slice]:
    return [slice(start, min(start + SLAB_SLICES, n)) for start in range(0, n, SLAB_SLICES)]


class SlabComponents:
    """The face-connected 3-D components of a mask, numbered as :func:`scipy.ndimage.label` numbers them (by
    their first cell, slice by slice, row by row), but labelled a slab of slices at a time and joined across
    the slabs' boundaries, so that only one slab's labels are ever held.

    Args:
        mask: must not change while this is in use.
    """

    def __init__(self, mask: PackedVolume) -> None:
        self.mask = mask
        self.slabs = slabs(len(mask))
        self._starts: list[int] = []  # per slab: its first node (the nodes are every slab's components)
        counts: list[npt.NDArray[np.intp]] = [np.zeros(1, dtype=np.intp)]  # node 0: the background
        joins: list[tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]] = []
        nodes, last = 1, None
        for slab in self.slabs:
            local, n = ndimage.label(mask[slab], structure=_FACES)
            self._starts.append(nodes)
            counts.append(np.bincount(local.ravel(), minlength=n + 1)[1:])
            first = local[0] + np.int32(nodes - 1)
            if last is not None:
                touch = (last > 0) & (local[0] > 0)
                joins.append((last[touch], first[touch]))
            last = np.where(local[-1] > 0, local[-1] + np.int32(nodes - 1), 0)
            nodes += n
        a = np.concatenate([j[0] for j in joins]) if joins else np.zeros(0, dtype=np.int32)
        b = np.concatenate([j[1] for j in joins]) if joins else np.zeros(0, dtype=np.int32)
        graph = coo_array((np.ones(len(a), dtype=np.int8), (a, b)), shape=(nodes, nodes))
        n_found, component = connected_components(graph, directed=False)
        # Number the components by their first node: slab by slab, and within a slab as ndimage.label did.
        first_node = np.full(n_found, nodes, dtype=np.intp)
        np.minimum.at(first_node, component, np.arange(nodes))
        rank = np.empty(n_found, dtype=np.intp)
        rank[np.argsort(first_node)] = np.arange(n_found)
        self._number = rank[component]  # per node; the background (node 0) is 0
        sizes = np.zeros(n_found, dtype=np.int64)
        np.add.at(sizes, self._number, np.concatenate(counts))
        self.sizes = sizes[1:]

    @property
    def count(self) -> int:
        """Components found."""
        return len(self.sizes)

    def numbers(self, k: int) -> npt.NDArray[np.int32]:
        """The component number (1, 2, ...; 0 outside the mask) of each cell of slab ``k`` (``mask[slabs[k]]``)."""
        local, n = ndimage.label(self.mask[self.slabs[k]], structure=_FACES)
        start = self._starts[k]
        lookup = np.concatenate([[0], self._number[start : start + n]]).astype(np.int32)
        return lookup[local]

    def select(self, number: int) -> PackedVolume:
        """The cells of component ``number``."""
        out = PackedVolume(self.mask.shape)
        for k, slab in enumerate(self.slabs):
            out[slab] = self.numbers(k) == number
        return out


def _seeds(grid: PackedVolume, midline: float, columns: npt.NDArray[np.intp]) -> tuple[LabelVolume | None, str]:
    """Two seeds labelled right and left, or None when the lungs do not come apart.

    Args:
        grid: lung cells.
        midline: the column (cells, whole grid) between the lungs.
        columns: each of ``grid``'s columns on the whole grid.
    """
    components = SlabComponents(grid)
    found = _pair(components, midline, columns)
    if found is not None:
        return found, "components"
    if not components.count:
        return None, "midline"
    eroded = components.select(1 + int(np.argmax(components.sizes)))
    del components
    for k in range(1, LUNG_SPLIT_MAX_EROSIONS + 1):
        for slab in slabs(len(eroded)):  # in-plane: a slab erodes alone
            eroded[slab] = ndimage.binary_erosion(eroded[slab], structure=_IN_PLANE)
        if not eroded.any():
            break
        found = _pair(SlabComponents(eroded), midline, columns)
        if found is not None:
            return found, f"eroded {k}"
    return None, "midline"


def _pair(components: SlabComponents, midline: float, columns: npt.NDArray[np.intp]) -> LabelVolume | None:
    """The two largest components as right and left, when comparable in size and on either side."""
    if components.count < 2:
        return None
    sizes = components.sizes
    first, second = np.argsort(sizes)[::-1][:2] + 1
    if sizes[second - 1] < LUNG_PAIR_MIN_RATIO * sizes[first - 1]:
        return None
    seeds = np.zeros(components.mask.shape, dtype=np.int8)
    per_column = np.zeros((2, len(columns)), dtype=np.int64)
    for k, slab in enumerate(components.slabs):
        numbers = components.numbers(k)
        for row, (number, mark) in enumerate(((first, RIGHT), (second, LEFT))):
            cells = numbers == number
            per_column[row] += np.count_nonzero(cells, axis=(0, 1))
            seeds[slab][cells] = mark
    # The mean column of each, as the mean of its cells' columns (an exact integer sum, then one division).
    x_first = float(np.float64(per_column[0] @ columns) / sizes[first - 1]) + 0.5
    x_second = float(np.float64(per_column[1] @ columns) / sizes[second - 1]) + 0.5
    if (x_first - midline) * (x_second - midline) >= 0:
        return None
    if x_first > x_second:  # the first is the left lung: swap the marks
        marked = seeds != NO_LUNG
        seeds[marked] = RIGHT + LEFT - seeds[marked]
    return seeds


def _grow(seeds: LabelVolume, grid: npt.NDArray[np.bool_]) -> LabelVolume:
    """Grow the seeds through ``grid`` in-plane, a cell (4 neighbours) a step, until nothing changes.

    A cell goes to the seed that reaches it in the fewest steps; one that both reach in the same step goes
    left (the larger label, as an iterated grey dilation gives). Each step visits only the last step's new
    cells.

    Args:
        seeds: :data:`RIGHT` and :data:`LEFT` cells (a part of ``grid``), else :data:`NO_LUNG`.
        grid: the cells the seeds may grow into.
    """
    slices, rows, cols = grid.shape
    # One empty cell around each slice: a neighbour's flat index never wraps into another row or slice.
    labels = np.zeros((slices, rows + 2, cols + 2), dtype=np.int8)
    labels[:, 1:-1, 1:-1] = seeds
    free = np.zeros(labels.shape, dtype=bool)
    free[:, 1:-1, 1:-1] = grid & (seeds == NO_LUNG)
    near_free = np.zeros(labels.shape, dtype=bool)
    near_free[:, 1:-1, 1:-1] = free[:, :-2, 1:-1] | free[:, 2:, 1:-1] | free[:, 1:-1, :-2] | free[:, 1:-1, 2:]
    front = np.flatnonzero(near_free & (labels != NO_LUNG))
    del near_free
    flat_labels, flat_free = labels.reshape(-1), free.reshape(-1)
    steps = np.array([-1, 1, -(cols + 2), cols + 2], dtype=np.intp)
    while front.size:
        reached = (front[:, None] + steps).ravel()
        by = np.repeat(flat_labels[front], len(steps))
        keep = flat_free[reached]
        reached, by = reached[keep], by[keep]
        flat_labels[reached[by == RIGHT]] = RIGHT
        flat_labels[reached[by == LEFT]] = LEFT  # after RIGHT: reached by both at once, it goes left
        flat_free[reached] = False
        front = np.unique(reached)
    return np.ascontiguousarray(labels[:, 1:-1, 1:-1])


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
    gr, gc = cells.shape
    up = np.broadcast_to(cells[:, None, :, None], (gr, factor, gc, factor)).reshape(gr * factor, gc * factor)
    by_midline = np.where(np.arange(cols) + 0.5 >= midline_px, LEFT, RIGHT).astype(np.int8)
    up = up[:rows, :cols]
    out = np.where(up != NO_LUNG, up, by_midline)
    out[~pixels] = NO_LUNG
    return out
