from __future__ import annotations

import numpy as np
import pytest

from ctangel.io import DisplayTransform, Study, VolumeGrid

TRANSFORMS = [DisplayTransform(t, r, c) for t in (False, True) for r in (False, True) for c in (False, True)]


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_display_transform_round_trips_pixels_and_boxes(transform: DisplayTransform) -> None:
    stored = np.arange(12).reshape(3, 4)
    display = transform.apply(stored)
    np.testing.assert_array_equal(transform.invert(display), stored)
    # a box around one display pixel comes back around the stored pixel it shows
    value = 6
    (i, j), (r, c) = np.argwhere(display == value)[0], np.argwhere(stored == value)[0]
    box = transform.box_to_stored((float(j), float(i), j + 1.0, i + 1.0), display.shape)
    assert box == (c, r, c + 1, r + 1)


def test_volume_grid_shapes() -> None:
    # display axes (col, row, index) stored as file axes (2, 1, 0)
    grid = VolumeGrid(shape=(7, 3, 5), affine=np.eye(4), display_to_grid=np.array([[2, 1], [1, -1], [0, 1]]))
    assert grid.display_volume_shape == (5, 3, 7)
    assert grid.slice_shape == (3, 5)


def test_study_reads_lazily_and_knows_its_voxel_size() -> None:
    calls: list[int] = []

    def loader(i: int) -> np.ndarray:
        calls.append(i)
        return np.full((2, 2), i, dtype=np.float32)

    study = Study("p", "s", "s", "in", "hu", ["a", "b", "c"], loader, pixel_spacing_mm=(0.5, 0.8), slice_spacing_mm=2.0)
    assert len(study) == 3 and calls == []
    assert float(study.read(2)[0, 0]) == 2.0 and calls == [2]
    assert study.voxel_volume_ml == pytest.approx(0.5 * 0.8 * 2.0 / 1000)
    assert study.pixel_area_mm2 == pytest.approx(0.4)
