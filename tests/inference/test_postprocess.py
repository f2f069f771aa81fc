from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage as ndi

from ctangel.inference.postprocess import (
    box_mask,
    fill_holes,
    find_lesions,
    grow_mask,
    lung_mask_from_probability,
    max_in_region,
    valid_region,
)


def test_find_lesions_keeps_components_over_the_area_inside_the_region() -> None:
    prob = np.zeros((40, 40), np.float32)
    prob[5:10, 5:11] = 0.9  # 30 px: kept (> 25)
    prob[5:10, 5:11][0, 0] = 0.95
    prob[20:25, 20:25] = 0.8  # 25 px: not over 25, dropped
    prob[30:36, 30:36] = 0.7  # 36 px but outside the region, dropped
    prob[12, 12] = 0.5  # exactly 0.5 is not over the threshold
    region = (0.0, 0.0, 28.0, 28.0)
    lesions, mask = find_lesions(prob, region, threshold=0.5, min_area_px=25)
    assert len(lesions) == 1
    (les,) = lesions
    assert les.box == (5, 5, 11, 10)  # edges: x1, y1 one past the last pixel
    assert les.area_px == 30
    assert les.score == np.float32(0.95)
    assert mask.sum() == 30 and mask[5:10, 5:11].all()


def test_find_lesions_without_region_keeps_nothing() -> None:
    prob = np.ones((10, 10), np.float32)
    lesions, mask = find_lesions(prob, None, 0.5, 0)
    assert lesions == [] and not mask.any()


def test_diagonal_pixels_form_one_lesion() -> None:
    prob = np.zeros((10, 10), np.float32)
    for i in range(6):
        prob[i, i] = 1.0
    lesions, _ = find_lesions(prob, (0, 0, 10, 10), 0.5, 5)
    assert len(lesions) == 1 and lesions[0].area_px == 6


def test_lung_mask_drops_specks_and_tiny_lungs() -> None:
    prob = np.zeros((50, 50), np.float32)
    prob[5:25, 5:20] = 0.9  # 300 px
    prob[30:32, 30:32] = 0.9  # 4 px, under 5% of the largest
    mask = lung_mask_from_probability(prob, 0.5, 0.05, min_area_px=100)
    assert mask.sum() == 300
    assert not lung_mask_from_probability(prob, 0.5, 0.05, min_area_px=400).any()


def test_valid_region_grows_and_clips() -> None:
    assert valid_region((5, 5, 20, 20), 10, (25, 30)) == (0, 0, 30, 25)
    assert valid_region(None, 10, (25, 30)) is None


def test_box_mask_and_max_in_region() -> None:
    m = box_mask((1, 2, 4, 3), (5, 5))
    assert m.sum() == 3 and m[2, 1:4].all()
    prob = np.zeros((5, 5), np.float32)
    prob[0, 0] = 0.9
    prob[2, 2] = 0.4
    assert max_in_region(prob, (1, 2, 4, 3)) == np.float32(0.4)
    assert max_in_region(prob, None) == 0.0


def test_find_lesions_with_a_lung_mask_keeps_only_lesions_that_touch_it() -> None:
    prob = np.zeros((40, 40), np.float32)
    prob[2:8, 2:8] = 0.9  # 36 px, touches the lung at its corner: kept whole
    prob[30:36, 30:36] = 0.9  # 36 px, inside the region but away from the lung (bowel wall): dropped
    lung = np.zeros((40, 40), bool)
    lung[7:20, 7:20] = True
    lesions, mask = find_lesions(prob, (0.0, 0.0, 40.0, 40.0), 0.5, 25, lung)
    assert [les.box for les in lesions] == [(2, 2, 8, 8)]
    assert mask.sum() == 36


def test_grow_mask_grows_by_euclidean_distance() -> None:
    mask = np.zeros((21, 21), bool)
    mask[10, 10] = True
    grown = grow_mask(mask, 3.0)
    assert grown[10, 13] and grown[10, 7] and not grown[10, 14]
    assert grown[12, 12] and not grown[13, 13]  # sqrt(8) <= 3 < sqrt(18)
    assert grow_mask(mask, 0.2) is mask
    assert not grow_mask(np.zeros((5, 5), bool), 3.0).any()


@settings(max_examples=200, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 24), st.integers(1, 24))), st.booleans())
def test_fill_holes_gives_the_pixels_of_scipys_binary_fill_holes(mask: np.ndarray, thicken: bool) -> None:
    if thicken:  # rings and closed shapes, which have holes
        mask = ndi.binary_dilation(mask)
    assert np.array_equal(fill_holes(mask), ndi.binary_fill_holes(mask))


def test_fill_holes_fills_a_hole_and_leaves_a_bay_open() -> None:
    mask = np.zeros((12, 12), bool)
    mask[2:9, 2:9] = True
    mask[4:6, 4:6] = False  # a hole
    mask[5:9, 7] = False  # a bay open to the outside
    filled = fill_holes(mask)
    assert filled[4:6, 4:6].all() and not filled[5:9, 7].any()
