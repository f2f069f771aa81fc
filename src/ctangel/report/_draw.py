"""Drawing helpers shared by the overlays and the montage: fonts, line widths, grey to 8 bits."""

from __future__ import annotations

import functools
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import ImageFont

from ctangel.constants import UINT8_MAX

#: One pixel of line width per this many pixels of the image's longer side (2 px at 512).
PX_PER_LINE_WIDTH: Final = 256
#: Caption text height: the image's width divided by this, but never under MIN_FONT_PX.
WIDTH_PER_FONT_PX: Final = 40
MIN_FONT_PX: Final = 10

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def line_width(width: int, height: int) -> int:
    """Line width in pixels for boxes drawn on an image of ``width x height``."""
    return max(1, round(max(width, height) / PX_PER_LINE_WIDTH))


def font_size(width: int) -> int:
    """Caption text height in pixels for an image ``width`` pixels wide."""
    return max(MIN_FONT_PX, round(width / WIDTH_PER_FONT_PX))


@functools.cache
def font(size: int) -> Font:
    """Pillow's built-in font at ``size`` pixels (a scalable one when Pillow has FreeType)."""
    return ImageFont.load_default(size=size)


def to_uint8(unit: npt.NDArray[np.floating]) -> npt.NDArray[np.uint8]:
    """0..1 intensities to 0..255 grey values, rounded."""
    return np.round(np.clip(unit, 0.0, 1.0) * UINT8_MAX).astype(np.uint8)
