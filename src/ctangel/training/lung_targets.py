"""Classical lung masks: the training targets of the lung (valid-region) model.

No public lung masks come with the data, so the lung model learns from masks made by a documented classical
method, checked by eye (``ctangel prepare`` writes a montage of them):

1. *Air*: pixels darker than a threshold. For HU slices the threshold is -400 HU (lung parenchyma is about
   -900..-500 HU, soft tissue -100..+80 HU). For 8-bit slices, whose window is unknown, it is Otsu's
   threshold between the dark and bright classes of the middle half of the slice (lungs and mediastinum).
2. *Body*: the largest bright component, with its holes filled; its convex hull bounds the chest.
3. *Outside air is removed*: dark components that lie mostly outside the body's convex hull (the air around
   the patient, the scanner's padding, the table's gaps). Cropped images whose lungs touch the border keep
   them, since a lung lies inside the hull even where it touches the border.
4. *Largest components kept*: the lungs are the largest remaining dark components; components under
   :data:`MIN_COMPONENT_FRACTION` of the largest one, or under :data:`MIN_LUNG_FRACTION` of the image, are
   dropped (trachea, bowel gas, speckle).
5. *Holes filled* (vessels, nodules, ground glass inside the lung) and a small closing smooths the outline.

For HU volumes, :func:`lung_mask_volume` does steps 1-4 in 3-D, which also drops the stomach and bowel gas
that touch no lung. Dense lesions on the pleura are still missed by any threshold method; where a lesion
mask is known (MedSeg) it is added to the lung target.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu
from skimage.morphology import convex_hull_image, disk

from ctangel._types import BoolMask

#: HU below which a pixel counts as air or lung parenchyma.
AIR_THRESHOLD_HU: Final = -400.0
#: A dark component is outside air when less than this share of it lies inside the body's convex hull.
MIN_INSIDE_HULL_FRACTION: Final = 0.6
#: Lung components smaller than this share of the largest one are dropped.
MIN_COMPONENT_FRACTION: Final = 0.08
#: A lung component must cover at least this share of the slice.
MIN_LUNG_FRACTION: Final = 0.002
#: Radius of the closing that smooths the mask, as a share of the slice's longer side.
CLOSING_RADIUS_FRACTION: Final = 0.006
#: The Otsu threshold of 8-bit slices is taken over pixels brighter than this (0..1), skipping black padding.
OTSU_MIN_VALUE: Final = 0.02


def _keep_lung_components(air_inside: BoolMask, image_area: int) -> BoolMask:
    labels, n = ndi.label(air_inside)
    if n == 0:
        return np.zeros_like(air_inside)
    sizes = np.bincount(labels.ravel())[1:]
    largest = sizes.max()
    keep = (sizes >= MIN_COMPONENT_FRACTION * largest) & (sizes >= MIN_LUNG_FRACTION * image_area)
    return np.asarray(keep[labels - 1] & (labels > 0))


def _smooth(mask: BoolMask) -> BoolMask:
    if not mask.any():
        return mask
    radius = max(1, round(CLOSING_RADIUS_FRACTION * max(mask.shape)))
    padded = np.pad(mask, radius + 1)
    closed = ndi.binary_closing(padded, structure=disk(radius))[radius + 1 : -radius - 1, radius + 1 : -radius - 1]
    return np.asarray(ndi.binary_fill_holes(closed))


def _drop_outside_air(air: BoolMask, tissue: BoolMask) -> BoolMask:
    """Air components that lie mostly inside the convex hull of the largest tissue component."""
    tissue_labels, n = ndi.label(tissue)
    if n == 0:
        return np.zeros_like(air)
    sizes = np.bincount(tissue_labels.ravel())[1:]
    body = tissue_labels == (int(np.argmax(sizes)) + 1)
    hull = convex_hull_image(body)
    air_labels, n_air = ndi.label(air)
    if n_air == 0:
        return np.zeros_like(air)
    total = np.bincount(air_labels.ravel(), minlength=n_air + 1)[1:]
    inside = np.bincount(air_labels[hull].ravel(), minlength=n_air + 1)[1:]
    keep = inside >= MIN_INSIDE_HULL_FRACTION * np.maximum(total, 1)
    return np.asarray(keep[air_labels - 1] & (air_labels > 0))


def lung_mask_2d(image01: npt.NDArray[np.floating], air_threshold: float | None = None) -> BoolMask:
    """A classical lung mask of one slice.

    Args:
        image01: the slice in 0..1 (windowed HU or an 8-bit slice / 255), display orientation.
        air_threshold: the 0..1 value below which a pixel is air; Otsu's threshold when None.

    Returns:
        boolean mask of the slice's shape.
    """
    img = np.asarray(image01, dtype=np.float32)
    if air_threshold is None:
        # Otsu over the middle of the slice, which holds lungs and mediastinum: over the whole slice the air
        # around the patient can outweigh the tissue and pull the threshold between air and lung.
        r, c = img.shape
        centre = img[r // 4 : r - r // 4, c // 4 : c - c // 4]
        values = centre[centre > OTSU_MIN_VALUE]
        if values.size < 16 or values.min() == values.max():
            return np.zeros(img.shape, dtype=bool)
        air_threshold = float(threshold_otsu(values))
    air = img <= air_threshold  # Otsu: values above the threshold are the bright class
    tissue = ndi.binary_opening(~air, structure=np.ones((3, 3), bool))
    lungs = _keep_lung_components(_drop_outside_air(air, tissue), img.size)
    return _smooth(lungs)


def lung_mask_volume(hu: npt.NDArray[np.floating] | npt.NDArray[np.integer]) -> BoolMask:
    """Classical lung masks of an HU volume ``(slices, rows, cols)`` in display orientation, in 3-D.

    Outside air is removed slice by slice (convex hull of the body), then the lungs are the largest 3-D
    components of what remains, so gas in the stomach or bowel that touches no lung is dropped.

    Returns:
        boolean mask of the volume's shape.
    """
    vol = np.asarray(hu, dtype=np.float32)
    air = vol < AIR_THRESHOLD_HU
    inside = np.zeros_like(air)
    for k in range(vol.shape[0]):
        tissue = ndi.binary_opening(~air[k], structure=np.ones((3, 3), bool))
        inside[k] = _drop_outside_air(air[k], tissue)
    labels, n = ndi.label(inside)
    if n == 0:
        return inside
    sizes = np.bincount(labels.ravel())[1:]
    keep = sizes >= MIN_COMPONENT_FRACTION * sizes.max()
    lungs = keep[labels - 1] & (labels > 0)
    out = np.zeros_like(lungs)
    slice_area = vol.shape[1] * vol.shape[2]
    for k in range(vol.shape[0]):
        if lungs[k].sum() >= MIN_LUNG_FRACTION * slice_area:
            out[k] = _smooth(_keep_lung_components(lungs[k], slice_area))
    return out
