"""One lung mask per series, consistent in 3-D.

A slice-by-slice lung segmentation takes any air for lung: bowel and stomach gas below the diaphragm, air
outside the body, the trachea alone in the neck. In 3-D the lungs and their airways form one or two large
connected bodies; gas in the abdomen and air outside the body are separate ones, and the neck holds only a
thin tube of air. So, on the lung stage's masks stacked head to feet (on its own grid, 128x128 a slice):

0. (HU) drop each slice's components that are pure air (median under ``air_median_hu``): gas in the bowel
   and stomach touches the lung bases across the thin diaphragm, so in 3-D it may join them;
1. keep the 3-D components (6-connected) that hold at least ``min_volume_fraction`` of the largest one;
2. a slice whose remaining lung is smaller than ``min_slice_fraction`` of the series' largest has no lung;
3. holes inside each slice's lung (dense lesions, vessels) are filled.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import ndimage as ndi

from ctangel.anatomy.lungs import PackedVolume, SlabComponents, slabs
from ctangel.inference.postprocess import fill_holes

#: 8-connectivity in a slice.
EIGHT_CONNECTED_2D = np.ones((3, 3), dtype=bool)
#: Components with fewer interior pixels than this are judged on all their pixels.
_MIN_INTERIOR_PX = 4


def clean_lung_volume(
    masks: npt.NDArray[np.bool_], min_volume_fraction: float, min_slice_fraction: float
) -> npt.NDArray[np.bool_]:
    """The lungs and airways of a series, from per-slice lung masks (see :func:`clean_lung_cells`).

    Args:
        masks: ``(slices, rows, cols)`` per-slice lung masks of one series, slices in order (head to feet or
            the reverse), all on the same grid.
        min_volume_fraction: 3-D components under this share of the largest are dropped.
        min_slice_fraction: slices whose lung is under this share of the largest slice's are emptied.

    Returns:
        the cleaned masks, same shape.
    """
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3:
        return masks.copy()
    out = np.empty_like(masks)
    kept = clean_lung_cells(PackedVolume.of(masks), min_volume_fraction, min_slice_fraction)
    for slab in slabs(len(kept)):
        out[slab] = kept[slab]
    return out


def clean_lung_cells(cells: PackedVolume, min_volume_fraction: float, min_slice_fraction: float) -> PackedVolume:
    """Steps 1 to 3 of the module's recipe on a series' lung cells, a slab of slices at a time (the memory
    is a bit per cell and one slab's labels, whatever the series' length).

    Args:
        cells: the per-slice lung masks, stacked.
        min_volume_fraction: 3-D components (6-connected) under this share of the largest are dropped.
        min_slice_fraction: slices whose lung is under this share of the largest slice's are emptied.

    Returns:
        the kept cells, holes filled.
    """
    out = PackedVolume(cells.shape)
    if not cells.any():
        return out
    components = SlabComponents(cells)
    keep = np.zeros(components.count + 1, dtype=bool)
    keep[1:] = components.sizes >= min_volume_fraction * components.sizes.max()
    areas = np.zeros(len(cells), dtype=np.int64)
    for k, slab in enumerate(components.slabs):
        kept = keep[components.numbers(k)]
        areas[slab] = kept.sum(axis=(1, 2))
        out[slab] = kept
    empty = areas < min_slice_fraction * areas.max()
    for slab in components.slabs:
        kept = out[slab]
        kept[empty[slab]] = False
        for j in np.nonzero(kept.any(axis=(1, 2)))[0]:
            kept[j] = fill_holes(kept[j])
        out[slab] = kept
    return out


def drop_air_components(mask: npt.NDArray[np.bool_], hu: npt.NDArray[np.floating], air_median_hu: float) -> None:
    """Remove from ``mask`` (in place) its 2-D components whose interior's median HU is under ``air_median_hu``.

    Args:
        mask: one slice's lung mask.
        hu: the slice's HU on the same grid.
        air_median_hu: components darker than this are air.
    """
    labels, _ = ndi.label(mask, structure=EIGHT_CONNECTED_2D)
    for i, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        comp = labels[box] == i
        interior = ndi.binary_erosion(comp)
        values = hu[box][interior if interior.sum() >= _MIN_INTERIOR_PX else comp]
        if float(np.median(values)) < air_median_hu:
            mask[box][comp] = False
