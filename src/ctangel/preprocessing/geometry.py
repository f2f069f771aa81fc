"""Geometry: square crops that map an image region onto a model grid, and back, exactly.

Coordinates are pixel edges (see :data:`ctangel._types.Box`): pixel ``(col, row)`` covers
``[col, col + 1) x [row, row + 1)`` and its centre is at ``(col + 0.5, row + 0.5)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from ctangel._types import Box, FloatImage
from ctangel.errors import ConfigError


@dataclass(frozen=True)
class SquareCrop:
    """A square region of an input image, resampled to a ``side x side`` model grid.

    Model pixel ``(u, v)`` covers input region ``[x0 + u*s, x0 + (u+1)*s) x [y0 + v*s, ...)`` with
    ``s = extent / side``. The region may reach past the image; what lies outside reads as 0.

    Args:
        x0: left edge of the region, input pixels.
        y0: top edge of the region, input pixels.
        extent: side of the region, input pixels, over 0.
        side: side of the model grid, pixels.
    """

    x0: float
    y0: float
    extent: float
    side: int

    def __post_init__(self) -> None:
        if not self.extent > 0 or self.side < 1:
            raise ConfigError(f"a crop needs extent > 0 and side >= 1, got {self.extent}, {self.side}")

    @classmethod
    def whole(cls, shape: tuple[int, int], side: int) -> SquareCrop:
        """The whole image, centred in a square (the shorter axis padded equally on both sides).

        Args:
            shape: ``(rows, cols)`` of the image.
            side: model grid side.
        """
        rows, cols = shape
        extent = float(max(rows, cols))
        return cls((cols - extent) / 2, (rows - extent) / 2, extent, side)

    @classmethod
    def around(cls, box: Box, side: int, margin: float = 0.0, min_extent: float = 1.0) -> SquareCrop:
        """The square centred on ``box``, its side the box's longer side grown by ``margin`` on each side.

        Args:
            box: ``(x0, y0, x1, y1)`` in input pixels.
            side: model grid side.
            margin: fraction of the longer side added on each side (0.1 adds 10% left and right).
            min_extent: the region is never smaller than this, in input pixels.
        """
        x0, y0, x1, y1 = box
        longer = max(x1 - x0, y1 - y0)
        extent = max(longer * (1 + 2 * margin), min_extent)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        return cls(cx - extent / 2, cy - extent / 2, extent, side)

    @property
    def scale(self) -> float:
        """Input pixels per model pixel."""
        return self.extent / self.side

    def to_input(self, u: float, v: float) -> tuple[float, float]:
        """Model edge coordinates ``(u, v)`` to input edge coordinates ``(x, y)``."""
        return self.x0 + u * self.scale, self.y0 + v * self.scale

    def to_model(self, x: float, y: float) -> tuple[float, float]:
        """Input edge coordinates ``(x, y)`` to model edge coordinates ``(u, v)``."""
        return (x - self.x0) / self.scale, (y - self.y0) / self.scale

    def box_to_input(self, box: Box) -> Box:
        """A box on the model grid to the same box in input pixels."""
        x0, y0 = self.to_input(box[0], box[1])
        x1, y1 = self.to_input(box[2], box[3])
        return (x0, y0, x1, y1)

    def box_to_model(self, box: Box) -> Box:
        """A box in input pixels to the same box on the model grid."""
        u0, v0 = self.to_model(box[0], box[1])
        u1, v1 = self.to_model(box[2], box[3])
        return (u0, v0, u1, v1)

    def sample(self, image: npt.NDArray[np.floating], resample: int = Image.Resampling.BILINEAR) -> FloatImage:
        """Resample the region of ``image`` onto the model grid (anti-aliased when shrinking).

        Args:
            image: 2-D array ``(rows, cols)``.
            resample: a PIL resampling filter; NEAREST for label maps.

        Returns:
            float32 array ``(side, side)``; parts of the region outside the image are 0.
        """
        rows, cols = image.shape
        # Zero-pad only where the region leaves the image (PIL would repeat the edge pixels there).
        pad_l = int(np.ceil(-self.x0)) + 1 if self.x0 < 0 else 0
        pad_t = int(np.ceil(-self.y0)) + 1 if self.y0 < 0 else 0
        pad_r = int(np.ceil(self.x0 + self.extent - cols)) + 1 if self.x0 + self.extent > cols else 0
        pad_b = int(np.ceil(self.y0 + self.extent - rows)) + 1 if self.y0 + self.extent > rows else 0
        src = np.asarray(image, dtype=np.float32)
        if pad_l or pad_t or pad_r or pad_b:
            src = np.pad(src, ((pad_t, pad_b), (pad_l, pad_r)))
        x0, y0 = self.x0 + pad_l, self.y0 + pad_t
        region = (x0, y0, x0 + self.extent, y0 + self.extent)
        out = Image.fromarray(src, mode="F").resize((self.side, self.side), resample, box=region)
        return np.asarray(out, dtype=np.float32)

    def paste(
        self,
        model_map: npt.NDArray[np.floating],
        shape: tuple[int, int],
        resample: int = Image.Resampling.BILINEAR,
    ) -> FloatImage:
        """Resample a ``(side, side)`` map back onto an image of ``shape``; pixels outside the region are 0.

        Args:
            model_map: array ``(side, side)`` on the model grid.
            shape: ``(rows, cols)`` of the input image.
            resample: a PIL resampling filter.

        Returns:
            float32 array of ``shape``.
        """
        rows, cols = shape
        out = np.zeros(shape, dtype=np.float32)
        # The pixels whose centres lie inside the region.
        ix0 = max(0, int(np.ceil(self.x0 - 0.5)))
        iy0 = max(0, int(np.ceil(self.y0 - 0.5)))
        ix1 = min(cols, int(np.floor(self.x0 + self.extent - 0.5)) + 1)
        iy1 = min(rows, int(np.floor(self.y0 + self.extent - 0.5)) + 1)
        if ix1 <= ix0 or iy1 <= iy0:
            return out
        u0, v0 = self.to_model(ix0, iy0)
        u1, v1 = self.to_model(ix1, iy1)
        # An edge pad keeps PIL's source box inside the source where a pixel's edge leaves the region (by up
        # to half an input pixel, which is many model pixels when the region is magnified).
        pad = int(np.ceil(0.5 / self.scale)) + 1
        src = np.pad(np.asarray(model_map, dtype=np.float32), pad, mode="edge")
        part = Image.fromarray(src, mode="F").resize(
            (ix1 - ix0, iy1 - iy0), resample, box=(u0 + pad, v0 + pad, u1 + pad, v1 + pad)
        )
        out[iy0:iy1, ix0:ix1] = np.asarray(part, dtype=np.float32)
        return out


def clip_box(box: Box, shape: tuple[int, int]) -> Box:
    """Clip a box to an image of ``shape = (rows, cols)``."""
    rows, cols = shape
    return (
        min(max(box[0], 0.0), cols),
        min(max(box[1], 0.0), rows),
        min(max(box[2], 0.0), cols),
        min(max(box[3], 0.0), rows),
    )


def grow_box(box: Box, pixels: float) -> Box:
    """Grow a box by ``pixels`` on every side."""
    return (box[0] - pixels, box[1] - pixels, box[2] + pixels, box[3] + pixels)


def mask_box(mask: npt.NDArray[np.bool_]) -> Box | None:
    """The smallest box holding every true pixel of ``mask``, or None when there is none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def reference_scale(shape: tuple[int, int], reference_side: int) -> float:
    """How many pixels of this image one pixel at ``reference_side x reference_side`` is worth, in area.

    A 256x256 image gives 0.25: 25 pixels at 512x512 are 6.25 pixels here.
    """
    rows, cols = shape
    return (rows * cols) / float(reference_side * reference_side)
