"""Intensity: Hounsfield units or 8-bit grey values to the 0..1 range the models take."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ctangel._types import FloatImage, PixelKind
from ctangel.constants import LUNG_WINDOW_LEVEL_HU, LUNG_WINDOW_WIDTH_HU, UINT8_MAX
from ctangel.errors import ConfigError


@dataclass(frozen=True)
class Window:
    """A CT display window in HU: values from ``level - width/2`` to ``level + width/2`` map to 0..1.

    Args:
        width: window width in HU, over 0.
        level: window centre in HU.
    """

    width: float = LUNG_WINDOW_WIDTH_HU
    level: float = LUNG_WINDOW_LEVEL_HU

    def __post_init__(self) -> None:
        if not self.width > 0:
            raise ConfigError(f"window width must be over 0 HU, got {self.width}")

    @property
    def lower(self) -> float:
        """HU mapped to 0."""
        return self.level - self.width / 2

    @property
    def upper(self) -> float:
        """HU mapped to 1."""
        return self.level + self.width / 2


def window_hu(hu: npt.NDArray[np.floating] | npt.NDArray[np.integer], window: Window) -> FloatImage:
    """Map HU to 0..1 through a window, clipping outside it (CT-Angel: W1200/L-700).

    Args:
        hu: array of HU values, any shape.
        window: the window.

    Returns:
        float32 array of the same shape, in 0..1.
    """
    out = (np.asarray(hu, dtype=np.float32) - np.float32(window.lower)) / np.float32(window.width)
    return np.clip(out, 0.0, 1.0, out=out)


def scale_uint8(pixels: npt.NDArray[np.integer] | npt.NDArray[np.floating]) -> FloatImage:
    """Map 8-bit grey values (0..255, already windowed) to 0..1 float32."""
    out = np.asarray(pixels, dtype=np.float32) / np.float32(UINT8_MAX)
    return np.clip(out, 0.0, 1.0, out=out)


def to_unit_range(
    pixels: npt.NDArray[np.floating] | npt.NDArray[np.integer], kind: PixelKind, window: Window
) -> FloatImage:
    """The intensity half of the shared preprocessing: HU through ``window``, 8-bit values by /255.

    Args:
        pixels: a slice, HU (``kind="hu"``) or 0..255 grey values (``kind="uint8"``).
        kind: what the values are.
        window: the HU window; ignored for 8-bit input, which is taken as already windowed.

    Returns:
        float32 array of the same shape, in 0..1.
    """
    if kind == "hu":
        return window_hu(pixels, window)
    if kind == "uint8":
        return scale_uint8(pixels)
    raise ConfigError(f"unknown pixel kind {kind!r}; expected 'hu' or 'uint8'")
