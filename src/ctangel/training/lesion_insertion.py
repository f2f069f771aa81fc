"""Synthetic COVID-19-like lesions inserted into real HU slices: lesion examples in the clinical domain.

Every labelled lesion in the public data is an 8-bit slice exported with some unknown window; clinical input
is HU DICOM, which CT-Angel's W1200/L-700 renders differently (everything over -100 HU is white, dense
consolidation included). The only HU training slices (LIDC-IDRI-0001) hold no COVID-19. This augmentation
turns some of them into positives by drawing lesions into their lungs, in HU, before the shared
preprocessing windows them — so the lesion model also learns what a lesion looks like after the clinical path.

A lesion is an irregular blob (a disc whose outline is bent by smooth noise, soft at its rim) placed near
the pleura, more often posteriorly (the typical COVID-19 distribution), clipped to the lung:

* ground glass: the parenchyma under it rises by 250..480 HU (about -850 to -600..-370 HU), modulated by a
  smooth texture; vessels and other dense pixels keep their values, so they still show through;
* consolidation: the pixels become soft tissue (-60..+40 HU with noise), except airways at least 3 px wide
  (air bronchograms), which stay air.

Its label is where the change is at least half its full strength.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage as ndi

from ctangel._types import BoolMask
from ctangel.constants import REFERENCE_SIDE_PX


@dataclass(frozen=True)
class InsertionConfig:
    """How lesions are drawn (sizes in pixels at 512x512, densities in HU).

    Args:
        max_lesions: 1 to this many lesions per slice.
        radius_px: range of a lesion's radius.
        p_consolidation: chance that a lesion is a consolidation rather than ground glass.
        ggo_rise_hu: range of the rise of ground glass over the parenchyma.
        consolidation_hu: range of a consolidation's mean density.
        texture_hu: standard deviation of the density texture.
        irregularity: how much smooth noise bends the outline (share of the radius).
        edge: width of the soft rim (share of the radius).
        subpleural_depth: a lesion's centre lies at most this many radii inside the pleura.
        posterior_weight: how much more often the posterior half of the lung is chosen.
        parenchyma_below_hu: ground glass raises only pixels below this (vessels stay as they are).
        bronchogram_below_hu: consolidation keeps pixels below this as air.
    """

    max_lesions: int = 3
    radius_px: tuple[float, float] = (8.0, 45.0)
    p_consolidation: float = 0.35
    ggo_rise_hu: tuple[float, float] = (250.0, 480.0)
    consolidation_hu: tuple[float, float] = (-60.0, 40.0)
    texture_hu: float = 35.0
    irregularity: float = 0.35
    edge: float = 0.25
    subpleural_depth: float = 0.8
    posterior_weight: float = 2.0
    parenchyma_below_hu: float = -300.0
    bronchogram_below_hu: float = -950.0


def smooth_noise(shape: tuple[int, ...], scale: float, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """Smooth noise with unit standard deviation and features about ``scale`` pixels wide."""
    field = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), max(scale, 1.0))
    std = float(field.std())
    return field / std if std > 0 else field


def insert_lesions(
    hu: npt.NDArray[np.floating], lung: BoolMask, cfg: InsertionConfig, rng: np.random.Generator
) -> tuple[npt.NDArray[np.float32], BoolMask]:
    """Draw 1..``cfg.max_lesions`` lesions into the lung of an HU slice.

    Args:
        hu: the slice in HU, display orientation.
        lung: its lung mask (lesions are drawn only inside it).
        cfg: sizes and densities.
        rng: the random generator.

    Returns:
        the new slice (float32 HU) and the lesion label; the label is empty when the lung is too small.
    """
    out = np.array(hu, dtype=np.float32)
    label = np.zeros(out.shape, dtype=bool)
    if lung.sum() < 100:
        return out, label
    scale = max(out.shape) / REFERENCE_SIDE_PX
    depth = ndi.distance_transform_edt(lung)
    rows = np.nonzero(lung.any(axis=1))[0]
    top, bottom = rows[0], rows[-1]
    for _ in range(int(rng.integers(1, cfg.max_lesions + 1))):
        radius = rng.uniform(*cfg.radius_px) * scale
        candidates = lung & (depth <= cfg.subpleural_depth * radius)
        if not candidates.any():
            candidates = lung
        cy, cx = np.nonzero(candidates)
        posterior = (cy - top) / max(bottom - top, 1)
        weights = 1.0 + (cfg.posterior_weight - 1.0) * posterior
        k = rng.choice(cy.size, p=weights / weights.sum())
        y0, x0 = int(cy[k]), int(cx[k])
        half = int(np.ceil(radius * (1 + cfg.irregularity + cfg.edge))) + 2
        r0, r1 = max(0, y0 - half), min(out.shape[0], y0 + half + 1)
        c0, c1 = max(0, x0 - half), min(out.shape[1], x0 + half + 1)
        yy, xx = np.mgrid[r0:r1, c0:c1]
        dist = np.hypot(yy - y0, xx - x0) / radius
        dist = dist + cfg.irregularity * smooth_noise(dist.shape, radius / 3, rng)
        strength = np.clip((1.0 - dist) / cfg.edge, 0.0, 1.0) * lung[r0:r1, c0:c1]
        if not (strength > 0.5).any():
            continue
        patch = out[r0:r1, c0:c1]
        texture = cfg.texture_hu * smooth_noise(patch.shape, 2.0 * scale, rng)
        if rng.random() < cfg.p_consolidation:
            target = rng.uniform(*cfg.consolidation_hu) + texture
            # airways at least 3 px wide stay air (bronchograms); single dark pixels are noise, not airways
            air = ndi.binary_opening(patch < cfg.bronchogram_below_hu, structure=np.ones((3, 3), bool))
            patch[:] = np.where(air, patch, patch + strength * (target - patch))
        else:
            rise = rng.uniform(*cfg.ggo_rise_hu) * (0.75 + 0.25 * smooth_noise(patch.shape, radius / 2, rng))
            soft = patch < cfg.parenchyma_below_hu
            patch[:] = np.where(soft, patch + strength * (rise + texture), patch)
        label[r0:r1, c0:c1] |= strength >= 0.5
    return out, label
