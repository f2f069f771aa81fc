from __future__ import annotations

import numpy as np

from ctangel.training.lung_targets import lung_mask_2d, lung_mask_volume


def chest(shape: tuple[int, int] = (128, 128), hu: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A slice with a body ellipse, two dark lungs and a dark trachea; returns (pixels, true lungs)."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    body = ((rows - 64) / 50) ** 2 + ((cols - 64) / 60) ** 2 < 1
    left = ((rows - 60) / 30) ** 2 + ((cols - 38) / 18) ** 2 < 1
    right = ((rows - 60) / 30) ** 2 + ((cols - 90) / 18) ** 2 < 1
    trachea = ((rows - 40) / 3) ** 2 + ((cols - 64) / 3) ** 2 < 1
    img = np.full(shape, -1000.0)
    img[body] = 40.0
    img[left | right] = -850.0
    img[trachea] = -1000.0
    img[(rows - 60) ** 2 + (cols - 38) ** 2 < 9] = 40.0  # a vessel inside a lung: a hole to fill
    img += np.random.default_rng(0).normal(0.0, 15.0, shape)  # scanner noise
    if not hu:
        img = np.clip((img + 1100) / 1300 * 255, 0, 255)
    return img, left | right


def test_2d_mask_keeps_lungs_drops_outside_air_and_trachea() -> None:
    img, truth = chest()
    mask = lung_mask_2d(np.clip((img + 1300) / 1200, 0, 1))
    assert mask[truth].mean() > 0.95
    assert mask[~truth].mean() < 0.01
    assert not mask[40, 64]  # trachea
    assert mask[60, 38]  # the vessel hole is filled


def test_2d_mask_on_8bit_slice_cropped_through_the_lungs() -> None:
    img, truth = chest(hu=False)
    crop = img[28:92, :]  # lungs touch the top and bottom borders
    mask = lung_mask_2d(crop / 255.0)
    assert mask[truth[28:92, :]].mean() > 0.9


def test_blank_slice_has_no_lung() -> None:
    assert not lung_mask_2d(np.zeros((64, 64))).any()


def test_volume_mask_drops_gas_that_touches_no_lung() -> None:
    img, truth = chest()
    vol = np.stack([img] * 4 + [np.where(truth, 40.0, img)] * 2)
    gas = vol.copy()
    gas[5, 90:100, 60:70] = -1000.0  # bowel gas on a slice below the lungs
    mask = lung_mask_volume(gas)
    assert mask[:4][:, truth].mean() > 0.95
    assert not mask[5].any()
