"""From probability maps to masks, boxes and areas, in the input image's pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage as ndi

from ctangel._types import BoolMask, Box, FloatImage
from ctangel.preprocessing import clip_box, grow_box, mask_box

#: 8-connectivity for components: diagonal neighbours belong to the same lesion.
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class LesionBox:
    """One lesion: its box, its area and its highest probability.

    Args:
        box: ``(x0, y0, x1, y1)``, input pixels, edges (``x1`` is one past the last column).
        area_px: lesion pixels, input pixels.
        score: the highest lesion probability inside the lesion, 0..1.
    """

    box: Box
    area_px: int
    score: float


def lung_mask_from_probability(
    prob: FloatImage, threshold: float, min_component_fraction: float, min_area_px: float
) -> BoolMask:
    """The lung mask: pixels over ``threshold``, without specks.

    Components smaller than ``min_component_fraction`` of the largest are dropped; a mask whose total area is
    not over ``min_area_px`` is empty (no lung on this slice).
    """
    mask = prob > threshold
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return mask
    cols = np.flatnonzero(mask.any(axis=0))
    inside = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))  # components never leave the box
    labels, n = ndi.label(mask[inside], structure=EIGHT_CONNECTED)
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.zeros(n + 1, dtype=bool)
    keep[1:] = sizes >= min_component_fraction * sizes.max()
    mask[inside] = keep[labels]
    if mask.sum() <= min_area_px:
        mask[:] = False
    return mask


def valid_region(lung_box: Box | None, margin_px: float, shape: tuple[int, int]) -> Box | None:
    """The slice's valid region: the lung box grown by ``margin_px`` and clipped to the image, or None."""
    if lung_box is None:
        return None
    return clip_box(grow_box(lung_box, margin_px), shape)


def box_mask(box: Box, shape: tuple[int, int]) -> BoolMask:
    """A mask of ``shape`` that is true on the pixels whose centres lie inside ``box``."""
    rows, cols = shape
    out = np.zeros(shape, dtype=bool)
    c0, c1 = int(np.ceil(box[0] - 0.5)), int(np.ceil(box[2] - 0.5))
    r0, r1 = int(np.ceil(box[1] - 0.5)), int(np.ceil(box[3] - 0.5))
    out[max(r0, 0) : min(r1, rows), max(c0, 0) : min(c1, cols)] = True
    return out


def fill_holes(mask: BoolMask) -> BoolMask:
    """``mask`` with its holes filled (dense lesions inside the lung are lung for the lesion rule).

    The same pixels as :func:`scipy.ndimage.binary_fill_holes` (background 4-connected to the border stays
    background), found with one labelling of the background inside the mask's box instead of dilations
    repeated until nothing changes.
    """
    if not mask.any():
        return mask
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    # a ring of background around the box stands for everything outside it (all background, all reachable)
    crop = np.pad(mask[r0:r1, c0:c1], 1)
    background, _ = ndi.label(~crop)
    out = mask.copy()
    out[r0:r1, c0:c1] |= (background != background[0, 0])[1:-1, 1:-1]
    return out


def grow_mask(mask: BoolMask, radius_px: float) -> BoolMask:
    """``mask`` grown by ``radius_px`` (Euclidean distance; a radius under half a pixel leaves it as it is)."""
    if radius_px < 0.5 or not mask.any():
        return mask
    r = int(np.ceil(radius_px))
    rows, cols = np.nonzero(mask)
    r0, r1 = max(rows.min() - r, 0), min(rows.max() + r + 1, mask.shape[0])
    c0, c1 = max(cols.min() - r, 0), min(cols.max() + r + 1, mask.shape[1])
    out = np.zeros_like(mask)
    out[r0:r1, c0:c1] = ndi.distance_transform_edt(~mask[r0:r1, c0:c1]) <= radius_px
    return out


def lesion_zone(lung_mask: BoolMask, margin_px: float) -> BoolMask:
    """Where a lesion may lie: the lung mask with its holes filled, grown by ``margin_px``."""
    return grow_mask(fill_holes(lung_mask), margin_px)


def find_lesions(
    prob: FloatImage,
    region: Box | None,
    threshold: float,
    min_area_px: float,
    lung: BoolMask | None = None,
) -> tuple[list[LesionBox], BoolMask]:
    """Lesions: connected components of ``prob > threshold`` with more than ``min_area_px`` pixels.

    With ``lung`` (the lung mask, grown by the lesion margin), a lesion counts only when it overlaps it (a
    consolidation that the lung mask leaves out still touches it; a "lesion" on the bowel wall does not).
    Without it, CT-Angel's rule: a lesion counts when its box centre lies in ``region``.

    Args:
        prob: lesion probability, input pixels.
        region: the valid region; None keeps nothing.
        threshold: probability cut-off (CT-Angel 0.5).
        min_area_px: a component must hold more pixels than this (CT-Angel 25 at 512x512).
        lung: where lesions may lie, input pixels; None for CT-Angel's box-centre rule.

    Returns:
        the lesions, largest first, and the mask of their pixels.
    """
    keep_mask = np.zeros(prob.shape, dtype=bool)
    if region is None:
        return [], keep_mask
    labels, n = ndi.label(prob > threshold, structure=EIGHT_CONNECTED)
    if n == 0:
        return [], keep_mask
    areas = np.bincount(labels.ravel(), minlength=n + 1)
    lesions = []
    for i, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None or areas[i] <= min_area_px:
            continue
        box: Box = (float(sl[1].start), float(sl[0].start), float(sl[1].stop), float(sl[0].stop))
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        if lung is None and not (region[0] <= cx <= region[2] and region[1] <= cy <= region[3]):
            continue
        own = labels[sl] == i
        if lung is not None and not (lung[sl] & own).any():
            continue
        keep_mask[sl] |= own
        lesions.append(LesionBox(box, int(areas[i]), float(prob[sl][own].max())))
    lesions.sort(key=lambda les: -les.area_px)
    return lesions, keep_mask


def max_in_mask(prob: npt.NDArray[np.floating], mask: BoolMask) -> float:
    """The highest value of ``prob`` on ``mask`` (0 when the mask is empty)."""
    return float(prob[mask].max()) if mask.any() else 0.0


def max_in_region(prob: npt.NDArray[np.floating], region: Box | None) -> float:
    """The highest value of ``prob`` on pixels inside ``region`` (0 when there is no region)."""
    if region is None:
        return 0.0
    inside = box_mask(region, prob.shape)
    return float(prob[inside].max()) if inside.any() else 0.0


def lung_box_of(mask: BoolMask) -> Box | None:
    """The smallest box holding the lung mask, or None."""
    return mask_box(mask)
