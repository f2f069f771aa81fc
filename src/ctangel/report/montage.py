"""A study at a glance: a grid of small slices, positive ones framed red, each labelled with its index."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from ctangel._types import BoolMask
from ctangel.report._draw import font
from ctangel.report.overlay import CAPTION_BACKGROUND_RGB, CAPTION_TEXT_RGB, MODEL_RGB

#: Side of one tile, pixels; a tile costs a byte a pixel in memory (grey), and a bit for its lesion pixels.
TILE_SIDE_PX: Final = 96
#: Negative slices are sampled so that a study shows about this many of them; positive slices always show.
MAX_NEGATIVE_TILES: Final = 120
#: The grid is about square, but never narrower than this many columns (unless there are fewer tiles).
MIN_COLUMNS: Final = 8
#: Pixels between tiles, and the frame widths of positive and negative tiles.
TILE_GAP_PX: Final = 2
POSITIVE_FRAME_PX: Final = 3
NEGATIVE_FRAME_PX: Final = 1
NEGATIVE_FRAME_RGB: Final = (90, 90, 90)
#: Lesion pixels on a tile are mixed with red by this share.
LESION_TINT: Final = 0.5
LABEL_FONT_PX: Final = 11
BACKGROUND_RGB: Final = (24, 24, 24)


@dataclass(frozen=True)
class _Tile:
    index: int
    positive: bool
    grey: npt.NDArray[np.uint8]
    lesion_bits: npt.NDArray[np.uint8] | None  # packed bits of the tile's lesion pixels

    @property
    def lesion(self) -> BoolMask | None:
        if self.lesion_bits is None:
            return None
        return np.unpackbits(self.lesion_bits, count=self.grey.size).view(bool).reshape(self.grey.shape)


class Montage:
    """Collects a small copy of a study's slices as they pass, and draws them as one grid.

    Every positive slice is kept; negative slices are kept one in every :attr:`stride`, so that memory holds
    at most about ``MAX_NEGATIVE_TILES`` negative tiles plus one tile per positive slice, whatever the
    study's length.

    Args:
        n_slices: slices in the study.
        tile: side of a tile, pixels.
    """

    def __init__(self, n_slices: int, tile: int = TILE_SIDE_PX) -> None:
        self.tile = tile
        self.stride = max(1, math.ceil(n_slices / MAX_NEGATIVE_TILES))
        self._tiles: list[_Tile] = []

    def __len__(self) -> int:
        return len(self._tiles)

    def wants(self, index: int, positive: bool) -> bool:
        """Whether slice ``index`` gets a tile."""
        return positive or index % self.stride == 0

    def add(self, index: int, grey: npt.NDArray[np.uint8], positive: bool, lesion: BoolMask | None = None) -> None:
        """Keep a tile of slice ``index``.

        Args:
            index: the slice's index in the study.
            grey: the slice, ``(rows, cols)`` 0..255, display orientation.
            positive: whether the slice was called positive (framed red).
            lesion: the slice's lesion pixels, ``(rows, cols)``, tinted red on the tile.
        """
        rows, cols = grey.shape
        scale = self.tile / max(rows, cols)
        size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
        left, top = (self.tile - size[0]) // 2, (self.tile - size[1]) // 2
        small = np.zeros((self.tile, self.tile), dtype=np.uint8)
        small[top : top + size[1], left : left + size[0]] = np.asarray(
            Image.fromarray(grey).resize(size, Image.Resampling.BOX)
        )
        bits = None
        if lesion is not None and lesion.any():
            # Any lesion pixel under a tile pixel marks it, so that small lesions stay visible.
            cover = Image.fromarray(lesion.astype(np.float32), mode="F").resize(size, Image.Resampling.BOX)
            small_lesion = np.zeros((self.tile, self.tile), dtype=bool)
            small_lesion[top : top + size[1], left : left + size[0]] = np.asarray(cover) > 0
            bits = np.packbits(small_lesion, axis=None)
        self._tiles.append(_Tile(index, positive, small, bits))

    def render(self) -> Image.Image | None:
        """The grid, tiles in slice order, or None when no tile was kept.

        Returns:
            an RGB image; positive tiles framed red, the others grey, each with its slice index at the
            top left.
        """
        if not self._tiles:
            return None
        tiles = sorted(self._tiles, key=lambda t: t.index)
        n = len(tiles)
        columns = min(n, max(MIN_COLUMNS, math.ceil(math.sqrt(n))))
        grid_rows = math.ceil(n / columns)
        cell = self.tile + 2 * POSITIVE_FRAME_PX + TILE_GAP_PX
        canvas = Image.new("RGB", (columns * cell + TILE_GAP_PX, grid_rows * cell + TILE_GAP_PX), BACKGROUND_RGB)
        draw = ImageDraw.Draw(canvas)
        label_font = font(LABEL_FONT_PX)
        for k, t in enumerate(tiles):
            x = TILE_GAP_PX + (k % columns) * cell
            y = TILE_GAP_PX + (k // columns) * cell
            frame = POSITIVE_FRAME_PX if t.positive else NEGATIVE_FRAME_PX
            colour = MODEL_RGB if t.positive else NEGATIVE_FRAME_RGB
            outer = self.tile + 2 * POSITIVE_FRAME_PX - 1
            inset = POSITIVE_FRAME_PX - frame
            draw.rectangle((x + inset, y + inset, x + outer - inset, y + outer - inset), outline=colour, width=frame)
            canvas.paste(_tile_image(t), (x + POSITIVE_FRAME_PX, y + POSITIVE_FRAME_PX))
            text = str(t.index)
            tx, ty = x + POSITIVE_FRAME_PX + 1, y + POSITIVE_FRAME_PX + 1
            bbox = draw.textbbox((tx, ty), text, font=label_font)
            draw.rectangle(bbox, fill=CAPTION_BACKGROUND_RGB)
            draw.text((tx, ty), text, fill=CAPTION_TEXT_RGB, font=label_font)
        return canvas


def _tile_image(t: _Tile) -> Image.Image:
    rgb = np.repeat(t.grey[:, :, None], 3, axis=2)
    lesion = t.lesion
    if lesion is not None:
        red = np.asarray(MODEL_RGB, dtype=np.float32)
        mixed = (1 - LESION_TINT) * rgb[lesion].astype(np.float32) + LESION_TINT * red
        rgb[lesion] = np.round(mixed).astype(np.uint8)
    return Image.fromarray(rgb, mode="RGB")
