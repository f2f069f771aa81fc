"""A synthetic chest CT with COVID-19-like lesions at known places, generated deterministically from a seed.

The volume is in display orientation: slice index 0 is the most superior (the scan runs head to feet),
row 0 is the patient's front, and the patient's left is on the image's right. Anatomy (body wall, ribs,
spine, sternum, scapulae, clavicles, mediastinum with heart and great vessels, trachea and bronchi, lungs
with branching vessels, diaphragm, liver, stomach, spleen, a patient table) is built from smooth analytic
shapes in millimetres, so neighbouring slices agree whatever the slice count. Values are HU as a scanner
stores them: air outside the body at -1000 inside a circular field of view, -2048 padding outside it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from ctangel.constants import REFERENCE_SIDE_PX
from ctangel.errors import ConfigError
from ctangel.log import logger
from ctangel.synthetic.anatomy import PADDING_HU, PIXEL_SPACING_MM, SCAN_LENGTH_MM, Anatomy
from ctangel.synthetic.lesions import Lesion, place_lesions
from ctangel.synthetic.options import DEFAULT_SLICES

#: Fewest and most slices the generator accepts.
MIN_SLICES: Final = 8
MAX_SLICES: Final = 2000
#: Standard deviation of the image noise, HU (correlated over neighbouring pixels, like a soft kernel).
NOISE_HU: Final = 14.0
#: Weights (neighbour, centre) of the [1, 2, 1] / 4 smoothing applied along rows and columns.
SMOOTHING_KERNEL: Final = (0.25, 0.5)
#: That smoothing in both directions scales the standard deviation of white noise by this.
SMOOTHING_NOISE_GAIN: Final = 0.375
#: Lowest and highest HU the int16 volume may hold (stored values with intercept -1024 stay in int16).
HU_RANGE: Final = (-2048, 3071)


@dataclass
class Phantom:
    """A generated volume and its ground truth.

    Args:
        hu: ``(slices, rows, cols)`` int16 Hounsfield units, display orientation, head to feet.
        lung_mask: ``(slices, rows, cols)`` bool, both lungs (vessels and lesions inside them included).
        lesion_labels: ``(slices, rows, cols)`` uint8: 0 no lesion, else the :attr:`Lesion.label`.
        lesions: the lesions, with :attr:`slice_ranges` giving the slices each one reaches.
        pixel_spacing_mm: side of a pixel.
        slice_spacing_mm: distance between neighbouring slice centres (also their thickness).
        seed: the seed it was generated from.
    """

    hu: npt.NDArray[np.int16]
    lung_mask: npt.NDArray[np.bool_]
    lesion_labels: npt.NDArray[np.uint8]
    lesions: list[Lesion]
    pixel_spacing_mm: float
    slice_spacing_mm: float
    seed: int

    @property
    def lesion_mask(self) -> npt.NDArray[np.bool_]:
        """``(slices, rows, cols)`` bool: any lesion."""
        return self.lesion_labels > 0

    @property
    def n_slices(self) -> int:
        """Number of slices."""
        return int(self.hu.shape[0])

    def z_mm(self, index: int) -> float:
        """Height of slice ``index``'s centre, mm from the top of the scan (toward the feet)."""
        return (index + 0.5) * self.slice_spacing_mm

    def slice_ranges(self) -> dict[int, tuple[int, int]]:
        """Per lesion label, the first and last slice holding its pixels (lesions with none are left out)."""
        out: dict[int, tuple[int, int]] = {}
        for lesion in self.lesions:
            hit = np.flatnonzero((self.lesion_labels == lesion.label).any(axis=(1, 2)))
            if len(hit):
                out[lesion.label] = (int(hit[0]), int(hit[-1]))
        return out

    def centre_voxel(self, lesion: Lesion) -> tuple[float, float, float]:
        """A lesion's centre as ``(slice, row, col)`` (fractional; pixel centres at whole numbers)."""
        x, y, z = lesion.centre_mm
        half = (self.hu.shape[2] - 1) / 2
        return (
            z / self.slice_spacing_mm - 0.5,
            y / self.pixel_spacing_mm + half,
            x / self.pixel_spacing_mm + half,
        )


def make_phantom(n_slices: int = DEFAULT_SLICES, seed: int = 0) -> Phantom:
    """Generate the phantom: ``n_slices`` axial slices of 512 x 512 covering the same 320 mm of body.

    The same ``(n_slices, seed)`` gives the same volume, bit for bit. The anatomy does not depend on the
    slice count (the slices sample it more or less finely); the seed moves the vessels, the lesions (a
    little), the texture and the noise.

    Args:
        n_slices: number of slices, :data:`MIN_SLICES` to :data:`MAX_SLICES`; their spacing is 320 mm over it.
        seed: seed of the random generator.

    Raises:
        ConfigError: ``n_slices`` is out of range.
    """
    if not MIN_SLICES <= n_slices <= MAX_SLICES:
        raise ConfigError(f"phantom: --slices must be {MIN_SLICES} to {MAX_SLICES}, got {n_slices}")
    started = time.perf_counter()
    anatomy_rng, lesion_rng, noise_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    side = REFERENCE_SIDE_PX
    anatomy = Anatomy(anatomy_rng, side)
    lesions = place_lesions(anatomy, lesion_rng)
    spacing = SCAN_LENGTH_MM / n_slices
    hu = np.empty((n_slices, side, side), dtype=np.int16)
    lung = np.empty((n_slices, side, side), dtype=bool)
    labels = np.zeros((n_slices, side, side), dtype=np.uint8)
    outside_fov = ~anatomy.in_fov
    for i in range(n_slices):
        z = (i + 0.5) * spacing
        plane = anatomy.plane(z)
        for lesion in lesions:
            lesion.draw(plane, anatomy.grid, z, labels[i])
        anatomy.draw_lung_tubes(plane, anatomy.subplanes(z, spacing))
        image = _smooth(plane.hu)
        noise = noise_rng.standard_normal((side, side), dtype=np.float32)
        noise *= np.float32(NOISE_HU / SMOOTHING_NOISE_GAIN)
        image += _smooth(noise)
        image[outside_fov] = PADDING_HU
        np.clip(np.rint(image), *HU_RANGE, out=image)
        hu[i] = image
        lung[i] = plane.lung > 0
    logger.debug("phantom: %d slices in %.1f s", n_slices, time.perf_counter() - started)
    return Phantom(hu, lung, labels, lesions, PIXEL_SPACING_MM, spacing, seed)


def _smooth(image: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``[1, 2, 1] / 4`` smoothing along rows and columns (edges repeat): a soft reconstruction kernel."""
    side, centre = np.float32(SMOOTHING_KERNEL[0]), np.float32(SMOOTHING_KERNEL[1])
    out = image * centre
    out[1:] += image[:-1] * side
    out[:-1] += image[1:] * side
    out[0] += image[0] * side
    out[-1] += image[-1] * side
    res = out * centre
    res[:, 1:] += out[:, :-1] * side
    res[:, :-1] += out[:, 1:] * side
    res[:, 0] += out[:, 0] * side
    res[:, -1] += out[:, -1] * side
    return res
