from __future__ import annotations

import numpy as np

from ctangel.models.checkpoint import InputSpec
from ctangel.preprocessing import SquareCrop
from ctangel.training.augment import AugmentConfig, augment_example, jitter_crop
from ctangel.training.data import Example


def example(kind: str = "hu") -> Example:
    pixels = np.full((64, 64), -700.0 if kind == "hu" else 128, np.float32 if kind == "hu" else np.uint8)
    label = np.zeros((64, 64), bool)
    label[20:30, 20:40] = True
    return Example("x", pixels, kind, label, lung_box=(8.0, 8.0, 56.0, 56.0))  # type: ignore[arg-type]


SPEC = InputSpec(side=32, crop="lung_box", margin=0.0)


def test_no_augmentation_is_what_inference_sees() -> None:
    img, lab = augment_example(example(), SPEC, None, np.random.default_rng(0))
    assert img.shape == lab.shape == (32, 32)
    np.testing.assert_allclose(img, 0.5, atol=1e-6)  # -700 HU in W1200/L-700
    # label edges x 20..40, y 20..30 in a crop from 8 at 1.5 input px per model px: model pixel u has its
    # centre at 8 + 1.5 (u + 0.5), so cols 8..20 (centre 38.75) and rows 8..14 (centre 29.75) are inside
    rows, cols = np.nonzero(lab)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (8, 14, 8, 20)


def test_augmentation_is_reproducible_and_keeps_ranges() -> None:
    cfg = AugmentConfig(p_dihedral=0.5, p_elastic=1.0, p_noise=1.0)
    a = augment_example(example(), SPEC, cfg, np.random.default_rng(7))
    b = augment_example(example(), SPEC, cfg, np.random.default_rng(7))
    c = augment_example(example(), SPEC, cfg, np.random.default_rng(8))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert a[0].dtype == np.float32 and a[0].min() >= 0 and a[0].max() <= 1
    assert a[1].dtype == bool


def test_flip_moves_label_and_image_together() -> None:
    cfg = AugmentConfig(
        p_window=0,
        scale=(1, 1),
        shift=0,
        p_flip=1,
        p_rotate=0,
        p_elastic=0,
        p_rewindow=0,
        p_gamma=0,
        p_noise=0,
        p_blur=0,
    )
    ex = example("uint8")
    ex.pixels[20:30, 20:40] = 255
    img, lab = augment_example(ex, SPEC, cfg, np.random.default_rng(0))
    assert np.array_equal(img > 0.75, lab)


def test_jitter_crop_stays_within_ranges() -> None:
    base = SquareCrop(0, 0, 100, 32)
    cfg = AugmentConfig(scale=(0.9, 1.1), shift=0.05)
    for seed in range(20):
        c = jitter_crop(base, cfg, np.random.default_rng(seed))
        assert 90 <= c.extent <= 110
        assert abs(c.x0 + c.extent / 2 - 50) <= 5.0001
