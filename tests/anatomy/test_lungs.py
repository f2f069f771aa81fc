"""The lung split, slab by slab, against the whole-grid implementation it replaced (kept here as the reference):
the same labels, method and midline, on hand-made and random grids."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from scipy import ndimage

from ctangel.anatomy import lungs
from ctangel.anatomy.lungs import LEFT, NO_LUNG, RIGHT, side_map, split_lungs, to_grid
from ctangel.constants import LUNG_PAIR_MIN_RATIO, LUNG_SPLIT_MAX_EROSIONS

_IN_PLANE = ndimage.generate_binary_structure(3, 1) & np.array([0, 1, 0], dtype=bool)[:, None, None]
_FACES = ndimage.generate_binary_structure(3, 1)


# --- the reference: the split as it was, on whole-grid arrays, grown by an iterated grey dilation ------------


def ref_to_grid(mask: npt.NDArray[np.bool_], factor: int) -> npt.NDArray[np.bool_]:
    if factor == 1:
        return mask.astype(bool, copy=True)
    rows, cols = mask.shape
    gr, gc = -(-rows // factor), -(-cols // factor)
    padded = np.zeros((gr * factor, gc * factor), dtype=np.uint16)
    padded[:rows, :cols] = mask
    sums = padded.reshape(gr, factor, gc, factor).sum(axis=(1, 3))
    return np.asarray(2 * sums >= factor * factor)


def ref_split(grid: npt.NDArray[np.bool_], factor: int) -> tuple[npt.NDArray[np.int8], float, str]:
    labels = np.zeros(grid.shape, dtype=np.int8)
    if not grid.any():
        return labels, grid.shape[2] * factor / 2.0, "midline"
    cols = np.nonzero(grid.any(axis=(0, 1)))[0]
    midline_cells = (cols[0] + cols[-1] + 1) / 2.0
    seeds, method = ref_seeds(grid, midline_cells)
    if seeds is not None:
        labels = ref_grow(seeds, grid)
    unassigned = grid & (labels == NO_LUNG)
    if unassigned.any():
        column = np.arange(grid.shape[2])[None, None, :] + 0.5
        labels[unassigned] = np.where(np.broadcast_to(column >= midline_cells, grid.shape), LEFT, RIGHT)[unassigned]
    right, left = (labels == RIGHT).any(axis=(0, 1)), (labels == LEFT).any(axis=(0, 1))
    if right.any() and left.any():
        midline_cells = (np.nonzero(right)[0][-1] + 1 + np.nonzero(left)[0][0]) / 2.0
    return labels, float(midline_cells * factor), method


def ref_seeds(grid: npt.NDArray[np.bool_], midline: float) -> tuple[npt.NDArray[np.int8] | None, str]:
    found = ref_pair(grid, midline)
    if found is not None:
        return found, "components"
    components, n = ndimage.label(grid, structure=_FACES)
    largest = components == (1 + int(np.argmax(np.bincount(components.ravel())[1:]))) if n else grid
    for k in range(1, LUNG_SPLIT_MAX_EROSIONS + 1):
        eroded = ndimage.binary_erosion(largest, structure=_IN_PLANE, iterations=k)
        if not eroded.any():
            break
        found = ref_pair(eroded, midline)
        if found is not None:
            return found, f"eroded {k}"
    return None, "midline"


def ref_pair(mask: npt.NDArray[np.bool_], midline: float) -> npt.NDArray[np.int8] | None:
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


def ref_grow(seeds: npt.NDArray[np.int8], grid: npt.NDArray[np.bool_]) -> npt.NDArray[np.int8]:
    labels = seeds.copy()
    while True:
        grown = ndimage.grey_dilation(labels, footprint=_IN_PLANE)
        new = grid & (labels == NO_LUNG) & (grown != NO_LUNG)
        if not new.any():
            return labels
        labels[new] = grown[new]


def ref_side_map(
    pixels: npt.NDArray[np.bool_], cells: npt.NDArray[np.int8], factor: int, midline_px: float
) -> npt.NDArray[np.int8]:
    rows, cols = pixels.shape
    up = np.repeat(np.repeat(cells, factor, axis=0), factor, axis=1)[:rows, :cols]
    by_midline = np.where(np.arange(cols)[None, :] + 0.5 >= midline_px, LEFT, RIGHT).astype(np.int8)
    out = np.where(up != NO_LUNG, up, by_midline).astype(np.int8)
    out[~pixels] = NO_LUNG
    return out


# --- random lung-like grids ----------------------------------------------------------------------------------


def lung_grid(rng: np.random.Generator, slices: int, rows: int = 24, cols: int = 40) -> npt.NDArray[np.bool_]:
    """Two ellipsoids of random size either side of the middle, often joined by a bridge of random width
    (a few erosions, or never apart), with scattered single cells."""
    z, y, x = np.ogrid[:slices, :rows, :cols]
    grid = np.zeros((slices, rows, cols), dtype=bool)
    for centre in (rng.uniform(0.2, 0.4) * cols, rng.uniform(0.6, 0.8) * cols):
        half = rng.uniform(0.1, 0.2) * cols, rng.uniform(0.25, 0.45) * rows, rng.uniform(0.4, 0.7) * slices
        middle = rng.uniform(0.4, 0.6) * rows, rng.uniform(0.3, 0.7) * slices
        grid |= ((x - centre) / half[0]) ** 2 + ((y - middle[0]) / half[1]) ** 2 + ((z - middle[1]) / half[2]) ** 2 < 1
    if rng.random() < 0.7:
        width = int(rng.integers(1, 2 * LUNG_SPLIT_MAX_EROSIONS + 4))
        top = int(rng.integers(0, max(1, rows - width)))
        grid[: int(rng.integers(1, slices + 1)), top : top + width, cols // 4 : 3 * cols // 4] = True
    grid |= rng.random(grid.shape) < rng.uniform(0.0, 0.03)
    return grid


@pytest.fixture(params=[3, 64], ids=["slabs-of-3", "slabs-of-64"])
def slab(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Run with slabs much smaller than the grids (components cross many slab boundaries) and with the default."""
    monkeypatch.setattr(lungs, "SLAB_SLICES", request.param)
    return int(request.param)


def test_random_grids_split_as_the_reference_did(slab: int) -> None:
    rng = np.random.default_rng(10)
    methods = set()
    for case in range(60):
        grid = lung_grid(rng, slices=int(rng.integers(1, 14)))
        labels, midline, method = ref_split(grid, factor=4)
        split = split_lungs(grid, factor=4)
        assert (split.method, split.midline_px) == (method, midline), case
        assert np.array_equal(split.labels, labels), case
        methods.add(method.split()[0])
    assert methods == {"components", "eroded", "midline"}  # every way through the split was compared


def test_a_box_of_the_grid_splits_as_the_whole_grid(slab: int) -> None:
    rng = np.random.default_rng(11)
    for case in range(20):
        grid = np.zeros((12, 30, 48), dtype=bool)
        grid[2:11, 3:27, 4:44] = lung_grid(rng, slices=9, rows=24, cols=40)
        whole = split_lungs(grid, factor=2)
        box = split_lungs(grid[1:, 2:, 3:], factor=2, origin=(1, 2, 3), shape=grid.shape)
        assert (box.method, box.midline_px) == (whole.method, whole.midline_px), case
        assert np.array_equal(box.labels, whole.labels), case
        assert all(np.array_equal(box.slice_labels(i), whole.labels[i]) for i in range(12))


def test_growth_matches_the_iterated_grey_dilation() -> None:
    rng = np.random.default_rng(12)
    for case in range(40):
        shape = (int(rng.integers(1, 6)), int(rng.integers(1, 30)), int(rng.integers(1, 30)))
        grid = rng.random(shape) < rng.uniform(0.4, 0.9)
        seeds = np.where(grid & (rng.random(shape) < rng.uniform(0.0, 0.05)), rng.integers(1, 3, shape), 0)
        seeds = seeds.astype(np.int8)
        assert np.array_equal(lungs._grow(seeds, grid), ref_grow(seeds, grid)), case


def test_growth_ties_go_left() -> None:
    grid = np.ones((1, 1, 5), dtype=bool)
    seeds = np.array([[[RIGHT, 0, 0, 0, LEFT]]], dtype=np.int8)
    assert lungs._grow(seeds, grid).tolist() == [[[RIGHT, RIGHT, LEFT, LEFT, LEFT]]]


def test_components_are_numbered_as_ndimage_label_numbers_them(slab: int) -> None:
    rng = np.random.default_rng(13)
    for case in range(20):
        mask = rng.random((int(rng.integers(1, 12)), 9, 11)) < rng.uniform(0.2, 0.7)
        expected, n = ndimage.label(mask, structure=_FACES)
        found = lungs.SlabComponents(mask)
        assert found.count == n, case
        assert np.array_equal(found.sizes, np.bincount(expected.ravel())[1:]), case
        numbers = np.concatenate([found.numbers(k) for k in range(len(found.slabs))])
        assert np.array_equal(numbers, expected), case


@pytest.mark.parametrize(("shape", "factor"), [((64, 48), 4), ((61, 50), 4), ((33, 35), 3), ((7, 9), 1)])
def test_to_grid_matches_the_reference(shape: tuple[int, int], factor: int) -> None:
    rng = np.random.default_rng(14)
    for density in (0.1, 0.5, 0.9):
        mask = rng.random(shape) < density
        assert np.array_equal(to_grid(mask, factor), ref_to_grid(mask, factor))


def test_side_map_matches_the_reference() -> None:
    rng = np.random.default_rng(15)
    for factor, shape in ((4, (61, 50)), (1, (9, 7)), (3, (30, 33))):
        cells = rng.integers(0, 3, (-(-shape[0] // factor), -(-shape[1] // factor))).astype(np.int8)
        pixels = rng.random(shape) < 0.6
        midline = float(rng.uniform(0, shape[1]))
        expected = ref_side_map(pixels, cells, factor, midline)
        found = side_map(pixels, cells, factor, midline)
        assert found.dtype == np.int8 and np.array_equal(found, expected)


def test_extent_is_the_box_of_one_side() -> None:
    grid = np.zeros((6, 10, 12), dtype=bool)
    grid[1:5, 2:8, 1:5] = True
    grid[2:6, 3:9, 7:11] = True
    split = split_lungs(grid, factor=1)
    assert split.method == "components"
    assert split.extent(RIGHT) == (1, 4, 2, 7) and split.extent(LEFT) == (2, 5, 3, 8)
    assert split_lungs(np.zeros((2, 3, 4), dtype=bool), factor=1).extent(RIGHT) is None


def test_packed_volume_round_trips_a_slab_at_a_time(slab: int) -> None:
    rng = np.random.default_rng(16)
    mask = np.zeros((9, 7, 13), dtype=bool)  # 13 columns: not a whole number of bytes
    mask[2:7, 1:6, 3:12] = rng.random((5, 5, 9)) < 0.5
    mask[4, 3, 11] = mask[2, 1, 3] = mask[6, 5, 3] = True
    packed = lungs.PackedVolume.of(mask)
    assert packed.any() and np.array_equal(packed[0:9], mask) and np.array_equal(packed[3:5], mask[3:5])
    box = packed.box()
    assert box == (slice(2, 7), slice(1, 6), slice(3, 12))
    assert np.array_equal(packed.crop(box)[0:5], mask[box])
    assert lungs.PackedVolume((2, 3, 4)).box() is None


def test_a_packed_grid_splits_as_the_array(slab: int) -> None:
    rng = np.random.default_rng(17)
    for case in range(10):
        grid = lung_grid(rng, slices=int(rng.integers(1, 10)), cols=37)
        split, packed = split_lungs(grid, factor=4), split_lungs(lungs.PackedVolume.of(grid), factor=4)
        assert (packed.method, packed.midline_px) == (split.method, split.midline_px), case
        assert np.array_equal(packed.labels, split.labels), case
