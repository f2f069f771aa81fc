"""Augmentation that fits CT: window and intensity jitter, crop jitter (scale, shift), flips, rotation, elastic.

Every draw comes from the ``numpy.random.Generator`` passed in, so a run is reproducible from its seed.
The slice first goes through :func:`ctangel.preprocessing.preprocess_slice`, the same function inference
uses, with a jittered window and crop; everything after that works on the model grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from ctangel._types import BoolMask, FloatImage
from ctangel.models.checkpoint import InputSpec
from ctangel.preprocessing import SquareCrop, Window, preprocess_slice
from ctangel.training.data import Example
from ctangel.training.lesion_insertion import InsertionConfig, insert_lesions
from ctangel.training.lesion_shapes import RealLesionConfig, cached_bank, draw_real_lesions


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of each augmentation (0 switches one off).

    ``p_insert`` draws synthetic lesions into an HU slice without lesions: with chance ``p_real_shapes`` real
    COVID-19 lesion shapes from ``shape_bank`` (:mod:`ctangel.training.lesion_shapes`), else hand-made blobs
    (:mod:`ctangel.training.lesion_insertion`); ``p_dihedral`` turns the sample by a random quarter turn and/or
    transposes it; ``rewindow`` stretches the 0..1 range between two random cut-offs (another window's
    saturation); ``saturate`` does the same for 8-bit slices only, with a low upper cut-off: most 8-bit
    training slices (MedSeg's) were exported with a wide window in which consolidation is grey, while in
    CT-Angel's W1200/L-700 everything over -100 HU is white, dense lesions included. Intensity gain and
    offset need no jitter: instance norm makes the network blind to them.
    """

    p_window: float = 0.7
    window_width_hu: tuple[float, float] = (900.0, 1800.0)
    window_level_hu: tuple[float, float] = (-850.0, -450.0)
    scale: tuple[float, float] = (0.85, 1.2)
    shift: float = 0.08
    p_flip: float = 0.5
    p_dihedral: float = 0.0
    p_insert: float = 0.0
    p_real_shapes: float = 0.0
    shape_bank: str = ""
    p_rotate: float = 0.5
    max_rotate_deg: float = 15.0
    p_elastic: float = 0.2
    elastic_px: float = 4.0
    elastic_grid: int = 6
    p_saturate: float = 0.0
    saturate_low: tuple[float, float] = (0.0, 0.1)
    saturate_high: tuple[float, float] = (0.55, 0.8)
    p_rewindow: float = 0.4
    rewindow_low: tuple[float, float] = (0.0, 0.15)
    rewindow_high: tuple[float, float] = (0.65, 1.0)
    p_gamma: float = 0.4
    log_gamma: float = 0.4
    p_noise: float = 0.3
    noise_sigma: tuple[float, float] = (0.005, 0.03)
    p_blur: float = 0.2
    blur_sigma: tuple[float, float] = (0.3, 0.9)


def jitter_crop(crop: SquareCrop, cfg: AugmentConfig, rng: np.random.Generator) -> SquareCrop:
    """The crop scaled about its centre and shifted, by amounts drawn from ``cfg``."""
    extent = crop.extent * rng.uniform(*cfg.scale)
    cx = crop.x0 + crop.extent / 2 + rng.uniform(-cfg.shift, cfg.shift) * crop.extent
    cy = crop.y0 + crop.extent / 2 + rng.uniform(-cfg.shift, cfg.shift) * crop.extent
    return SquareCrop(cx - extent / 2, cy - extent / 2, extent, crop.side)


def _elastic(
    img: FloatImage, lab: FloatImage, cfg: AugmentConfig, rng: np.random.Generator
) -> tuple[FloatImage, FloatImage]:
    side = img.shape[0]
    coarse = rng.normal(0.0, cfg.elastic_px, size=(2, cfg.elastic_grid, cfg.elastic_grid))
    field = np.stack([ndi.zoom(c, side / cfg.elastic_grid, order=3)[:side, :side] for c in coarse])
    rows, cols = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    coords = np.stack([rows + field[0], cols + field[1]])
    return (
        ndi.map_coordinates(img, coords, order=1, mode="constant").astype(np.float32),
        ndi.map_coordinates(lab, coords, order=0, mode="constant").astype(np.float32),
    )


def augment_example(
    ex: Example, spec: InputSpec, cfg: AugmentConfig | None, rng: np.random.Generator
) -> tuple[FloatImage, BoolMask]:
    """One training sample: the model-grid image (0..1) and label of ``ex``.

    With ``cfg=None`` the sample is the one inference would see (no augmentation).
    """
    base = spec.crop_for(ex.pixels.shape, ex.lung_box)
    window = spec.window
    if cfg is None:
        img = preprocess_slice(ex.pixels, ex.kind, window, base)
        return img, base.sample(ex.label.astype(np.float32)) > 0.5
    pixels, label = ex.pixels, ex.label
    if ex.kind == "hu" and ex.lung is not None and not ex.positive and rng.random() < cfg.p_insert:
        hu = np.asarray(pixels, dtype=np.float32)
        if cfg.shape_bank and rng.random() < cfg.p_real_shapes:
            pixels, label = draw_real_lesions(hu, ex.lung, cached_bank(cfg.shape_bank), RealLesionConfig(), rng)
        else:
            pixels, label = insert_lesions(hu, ex.lung, InsertionConfig(), rng)
    if ex.kind == "hu" and rng.random() < cfg.p_window:
        window = Window(rng.uniform(*cfg.window_width_hu), rng.uniform(*cfg.window_level_hu))
    crop = jitter_crop(base, cfg, rng)
    img = preprocess_slice(pixels, ex.kind, window, crop)
    lab = crop.sample(label.astype(np.float32))
    if rng.random() < cfg.p_flip:
        img, lab = img[:, ::-1], lab[:, ::-1]
    if rng.random() < cfg.p_dihedral:
        # Any of the other quarter turns and mirrorings: slices exported by other tools come turned.
        k, transpose = int(rng.integers(0, 4)), bool(rng.integers(0, 2))
        if transpose:
            img, lab = img.T, lab.T
        img, lab = np.rot90(img, k), np.rot90(lab, k)
    if rng.random() < cfg.p_rotate:
        angle = rng.uniform(-cfg.max_rotate_deg, cfg.max_rotate_deg)
        img = np.asarray(Image.fromarray(np.ascontiguousarray(img), "F").rotate(angle, Image.Resampling.BILINEAR))
        lab = np.asarray(Image.fromarray(np.ascontiguousarray(lab), "F").rotate(angle, Image.Resampling.BILINEAR))
    if rng.random() < cfg.p_elastic:
        img, lab = _elastic(np.ascontiguousarray(img), np.ascontiguousarray(lab), cfg, rng)
    img = np.array(img, dtype=np.float32)
    if ex.kind == "uint8" and rng.random() < cfg.p_saturate:
        lo, hi = rng.uniform(*cfg.saturate_low), rng.uniform(*cfg.saturate_high)
        img = np.clip((img - lo) / (hi - lo), 0.0, 1.0)
    if rng.random() < cfg.p_rewindow:
        lo, hi = rng.uniform(*cfg.rewindow_low), rng.uniform(*cfg.rewindow_high)
        img = np.clip((img - lo) / (hi - lo), 0.0, 1.0)
    if rng.random() < cfg.p_gamma:
        img = np.power(img, np.float32(np.exp(rng.uniform(-cfg.log_gamma, cfg.log_gamma))))
    if rng.random() < cfg.p_blur:
        img = ndi.gaussian_filter(img, rng.uniform(*cfg.blur_sigma))
    if rng.random() < cfg.p_noise:
        img = img + rng.normal(0.0, rng.uniform(*cfg.noise_sigma), img.shape).astype(np.float32)
    return np.clip(img, 0.0, 1.0).astype(np.float32), np.asarray(lab) > 0.5
