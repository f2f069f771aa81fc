from __future__ import annotations

import numpy as np

from ctangel.report.montage import MAX_NEGATIVE_TILES, Montage
from ctangel.report.overlay import MODEL_RGB


def test_long_study_keeps_positives_and_a_sample_of_negatives() -> None:
    montage = Montage(10 * MAX_NEGATIVE_TILES)
    assert montage.stride == 10
    assert montage.wants(20, positive=False) and not montage.wants(21, positive=False)
    assert montage.wants(21, positive=True)


def test_tiles_are_small_and_positive_ones_framed_red() -> None:
    montage = Montage(3, tile=16)
    lesion = np.zeros((64, 32), dtype=bool)
    lesion[30:34, 10:14] = True
    montage.add(0, np.full((64, 32), 80, dtype=np.uint8), positive=False)
    montage.add(1, np.full((64, 32), 80, dtype=np.uint8), positive=True, lesion=lesion)
    montage.add(2, np.full((64, 32), 80, dtype=np.uint8), positive=False)
    assert len(montage) == 3
    assert all(t.grey.shape == (16, 16) for t in montage._tiles)  # memory: a tile, not the slice
    image = montage.render()
    assert image is not None
    rgb = np.asarray(image)
    red = np.all(rgb == np.asarray(MODEL_RGB, dtype=np.uint8), axis=-1)
    assert red.any()
    # One row of three tiles: the red frame is around the middle tile only.
    third = rgb.shape[1] // 3
    assert red[:, third : 2 * third].any() and not red[:, :third].any() and not red[:, 2 * third :].any()


def test_empty_montage_draws_nothing() -> None:
    assert Montage(0).render() is None
