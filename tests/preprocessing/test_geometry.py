from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ctangel.preprocessing import (
    SquareCrop,
    Window,
    clip_box,
    grow_box,
    mask_box,
    preprocess_slice,
    reference_scale,
)


def ramp(rows: int, cols: int) -> np.ndarray:
    """Each pixel holds its centre's x coordinate."""
    return np.tile(np.arange(cols, dtype=np.float32) + 0.5, (rows, 1))


def test_sample_maps_pixel_centres_exactly() -> None:
    # 64 input px onto 32 model px: model pixel u covers x in [10 + 2u, 12 + 2u), centre 11 + 2u.
    crop = SquareCrop(10, 20, 64, 32)
    out = crop.sample(ramp(100, 100))
    np.testing.assert_allclose(out[5, :4], [11, 13, 15, 17], atol=1e-4)
    # upsampling: 16 px onto 32, centres at 10.5 + 0.25 + 0.5u
    out = SquareCrop(10.5, 20, 16, 32).sample(ramp(100, 100))
    np.testing.assert_allclose(out[0, :3], [10.75, 11.25, 11.75], atol=1e-4)


def test_outside_the_image_reads_zero() -> None:
    crop = SquareCrop(-10, -10, 20, 20)
    out = crop.sample(np.ones((50, 50), np.float32), Image.Resampling.NEAREST)
    assert out[0, 0] == 0 and out[15, 15] == 1


def test_paste_inverts_sample_geometry() -> None:
    crop = SquareCrop(10, 20, 64, 32)
    model_map = np.tile(np.arange(32, dtype=np.float32) + 0.5, (32, 1))  # model u-centre
    back = crop.paste(model_map, (100, 100))
    # input pixel x (centre x + 0.5) lies at model u = (x + 0.5 - 10) / 2
    np.testing.assert_allclose(back[30, 12:16], [(x + 0.5 - 10) / 2 for x in range(12, 16)], atol=1e-4)
    assert back[30, 9] == 0 and back[30, 74] == 0 and back[19, 30] == 0


def test_whole_centres_the_shorter_axis() -> None:
    crop = SquareCrop.whole((100, 200), 50)
    assert (crop.x0, crop.y0, crop.extent) == (0, -50, 200)
    assert crop.scale == 4


def test_around_squares_and_grows_the_box() -> None:
    crop = SquareCrop.around((10, 20, 50, 40), side=64, margin=0.1)
    # longer side 40, grown 10% each side -> 48, centred on (30, 30)
    assert crop.extent == pytest.approx(48)
    assert (crop.x0, crop.y0) == (pytest.approx(6), pytest.approx(6))
    assert crop.box_to_model((6, 6, 54, 54)) == pytest.approx((0, 0, 64, 64))
    assert crop.box_to_input((0, 0, 64, 64)) == pytest.approx((6, 6, 54, 54))


def test_box_helpers() -> None:
    m = np.zeros((10, 12), bool)
    m[2:5, 3:7] = True
    assert mask_box(m) == (3, 2, 7, 5)
    assert mask_box(np.zeros((4, 4), bool)) is None
    assert grow_box((3, 2, 7, 5), 2) == (1, 0, 9, 7)
    assert clip_box((-1, -2, 20, 5), (10, 12)) == (0, 0, 12, 5)
    assert reference_scale((256, 256), 512) == 0.25


def test_preprocess_slice_is_window_then_crop() -> None:
    hu = np.full((64, 64), -700, np.float32)
    out = preprocess_slice(hu, "hu", Window(), SquareCrop.whole((64, 64), 32))
    assert out.shape == (32, 32)
    np.testing.assert_allclose(out, 0.5, atol=1e-6)


def test_paste_of_a_magnified_region() -> None:
    # 10 input px onto 64 model px (6.4x): pasting back must fill exactly the pixels whose centres are inside
    crop = SquareCrop(100.3, 50.7, 10, 64)
    back = crop.paste(np.ones((64, 64), np.float32), (512, 512))
    rows, cols = np.nonzero(back)
    # x: centres 100.5 .. 109.5 lie in [100.3, 110.3]; y: centres 51.5 .. 60.5 lie in [50.7, 60.7]
    assert (cols.min(), cols.max(), rows.min(), rows.max()) == (100, 109, 51, 60)
