"""Preprocessing shared by training and inference: intensity to 0..1, then a square crop to the model grid.

:func:`preprocess_slice` is the one function both ``ctangel train`` and the pipeline call, so that what a
model sees in training is what it sees in use.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ctangel._types import FloatImage, PixelKind
from ctangel.preprocessing.geometry import SquareCrop, clip_box, grow_box, mask_box, reference_scale
from ctangel.preprocessing.window import Window, scale_uint8, to_unit_range, window_hu

__all__ = [
    "SquareCrop",
    "Window",
    "clip_box",
    "grow_box",
    "mask_box",
    "preprocess_slice",
    "reference_scale",
    "scale_uint8",
    "to_unit_range",
    "window_hu",
]


def preprocess_slice(
    pixels: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    kind: PixelKind,
    window: Window,
    crop: SquareCrop,
) -> FloatImage:
    """A slice as a model sees it: 0..1 intensities on the crop's ``side x side`` grid.

    Args:
        pixels: 2-D slice, HU or 0..255 grey values, in display orientation (patient's front at the top,
            patient's left on the image's right).
        kind: ``"hu"`` or ``"uint8"``.
        window: the HU window (ignored for 8-bit input).
        crop: the region of the slice the model sees.

    Returns:
        float32 array ``(crop.side, crop.side)`` in 0..1.
    """
    return crop.sample(to_unit_range(pixels, kind, window))
