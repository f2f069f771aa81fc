"""The one pixel cap every reader enforces before it decodes an image.

The cap is process-wide, like Pillow's own ``Image.MAX_IMAGE_PIXELS``: the readers are called from
discovery, from the pipeline's read-ahead thread, from the service's intake and from training data loaders,
none of which hold a settings object. ``ctangel analyze --max-image-pixels``, ``ctangel serve
--max-image-pixels`` and ``$CTANGEL_MAX_IMAGE_PIXELS`` set it; :func:`max_image_pixels` reads it.
"""

from __future__ import annotations

import os
from typing import Final

from ctangel.constants import DEFAULT_MAX_IMAGE_PIXELS
from ctangel.errors import ConfigError, InputError

#: Environment variable that sets the cap (a positive integer, pixels per image).
MAX_IMAGE_PIXELS_ENV: Final = "CTANGEL_MAX_IMAGE_PIXELS"

_cap: int | None = None


def max_image_pixels() -> int:
    """The largest number of pixels (rows x cols) an image may have: set, else from the environment, else
    :data:`~ctangel.constants.DEFAULT_MAX_IMAGE_PIXELS`.

    Raises:
        ConfigError: ``$CTANGEL_MAX_IMAGE_PIXELS`` is not a positive integer.
    """
    if _cap is not None:
        return _cap
    given = os.environ.get(MAX_IMAGE_PIXELS_ENV, "").strip()
    if not given:
        return DEFAULT_MAX_IMAGE_PIXELS
    return _checked(given, f"${MAX_IMAGE_PIXELS_ENV}")


def set_max_image_pixels(pixels: int | None) -> None:
    """Set the cap for this process (None: back to the environment's or the default).

    Raises:
        ConfigError: ``pixels`` is not positive.
    """
    global _cap
    _cap = None if pixels is None else _checked(str(pixels), "max_image_pixels")


def check_image_pixels(path: str, rows: int, cols: int, what: str = "image") -> None:
    """Refuse an image larger than the cap before it is decoded.

    Raises:
        InputError: ``rows x cols`` is over :func:`max_image_pixels` (or a side is not positive).
    """
    cap = max_image_pixels()
    if rows <= 0 or cols <= 0:
        raise InputError(path, f"the {what} has no pixels ({rows} x {cols}); the file is damaged")
    if rows * cols > cap:
        raise InputError(
            path,
            f"the {what} is {cols} x {rows} pixels, over the limit of {cap} pixels per image (a CT slice is at most "
            f"a few thousand pixels a side); raise --max-image-pixels if this image is genuine",
        )


def _checked(text: str, where: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{where} must be a positive number of pixels, got {text!r}")
    return value
