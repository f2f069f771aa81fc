from __future__ import annotations

import numpy as np

from ctangel.training.lesion_insertion import InsertionConfig, insert_lesions


def lung_slice() -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.mgrid[:256, :256]
    lung = ((rows - 128) / 90) ** 2 + ((cols - 128) / 60) ** 2 < 1
    hu = np.where(lung, -850.0, 40.0).astype(np.float32)
    hu[120:125, 100:160] = 30.0  # a vessel crossing the lung
    return hu, lung


def test_lesions_are_drawn_inside_the_lung_with_their_label() -> None:
    hu, lung = lung_slice()
    for seed in range(10):
        out, label = insert_lesions(hu, lung, InsertionConfig(), np.random.default_rng(seed))
        assert label.any()
        assert not (label & ~lung).any()
        changed = np.abs(out - hu) > 1
        assert not (changed & ~lung).any()  # nothing outside the lung moves
        assert np.median(out[label]) > -700  # denser than the -850 HU parenchyma
        assert out.dtype == np.float32


def test_ground_glass_leaves_vessels_alone_and_consolidation_is_soft_tissue() -> None:
    hu, lung = lung_slice()
    vessel = hu > -300
    ggo = InsertionConfig(p_consolidation=0.0, max_lesions=3, radius_px=(40, 40))
    out, label = insert_lesions(hu, lung, ggo, np.random.default_rng(1))
    np.testing.assert_array_equal(out[vessel], hu[vessel])
    core = label & ~vessel
    assert -700 < np.median(out[core]) < -300
    cons = InsertionConfig(p_consolidation=1.0, max_lesions=1, radius_px=(30, 30), texture_hu=0.0)
    out, label = insert_lesions(hu, lung, cons, np.random.default_rng(2))
    assert np.median(out[label]) > -200


def test_reproducible_and_no_lung_no_lesion() -> None:
    hu, lung = lung_slice()
    a = insert_lesions(hu, lung, InsertionConfig(), np.random.default_rng(5))
    b = insert_lesions(hu, lung, InsertionConfig(), np.random.default_rng(5))
    np.testing.assert_array_equal(a[0], b[0])
    out, label = insert_lesions(hu, np.zeros_like(lung), InsertionConfig(), np.random.default_rng(0))
    assert not label.any() and np.array_equal(out, hu)
