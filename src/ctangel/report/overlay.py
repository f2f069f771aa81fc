"""An overlay image: a slice with the model's lesion boxes in red, beside the radiologist's in green.

CT-Angel showed its red boxes beside the green boxes of the radiologist's labels; this draws the same, on the
slice windowed for the lung and in display orientation, at the slice's own pixel scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw
from scipy import ndimage as ndi

from ctangel._types import BoolMask, Box
from ctangel.report._draw import font, font_size, line_width

RGB = tuple[int, int, int]

#: Boxes of the model's lesions.
MODEL_RGB: Final[RGB] = (255, 0, 0)
#: Boxes of the label's (radiologist's) lesions.
TRUTH_RGB: Final[RGB] = (0, 255, 0)
#: The one-pixel outline of the lesion pixels the boxes were drawn around.
OUTLINE_RGB: Final[RGB] = (255, 255, 0)
CAPTION_BACKGROUND_RGB: Final[RGB] = (0, 0, 0)
CAPTION_TEXT_RGB: Final[RGB] = (255, 255, 255)
GAP_RGB: Final[RGB] = (64, 64, 64)
#: Columns between the model panel and the label panel.
PANEL_GAP_PX: Final = 8
#: Caption line height and padding, as fractions of the font size.
LINE_SPACING: Final = 1.3
CAPTION_PADDING: Final = 0.5


def draw_overlay(
    grey: npt.NDArray[np.uint8],
    model_boxes: Sequence[Box],
    caption: Sequence[str] = (),
    lesion_mask: BoolMask | None = None,
    truth_boxes: Sequence[Box] | None = None,
    truth_mask: BoolMask | None = None,
) -> Image.Image:
    """Draw a slice's lesion boxes.

    Layout: the model panel covers columns ``0 .. cols`` and rows ``0 .. rows`` at the slice's own scale
    (image pixel ``(x, y)`` is slice pixel ``(x, y)``); when ``truth_boxes`` is given the label panel follows
    at columns ``cols + PANEL_GAP_PX`` onwards; a caption strip lies below both. Each box is framed just
    outside its pixels (a frame on the image's border moves inside it), in a line that thickens with the
    slice's size.

    Args:
        grey: the slice, ``(rows, cols)`` grey values 0..255, display orientation.
        model_boxes: the model's lesion boxes, ``(x0, y0, x1, y1)`` edges in the slice's pixels.
        caption: lines of text under the panels.
        lesion_mask: the model's lesion pixels, ``(rows, cols)``; outlined when given.
        truth_boxes: the label's lesion boxes; None draws no label panel.
        truth_mask: the label's lesion pixels; outlined on the label panel when given.

    Returns:
        an RGB image ``(rows + caption strip) x (cols, or 2 * cols + PANEL_GAP_PX)``.
    """
    rows, cols = grey.shape
    panels = [_panel(grey, model_boxes, MODEL_RGB, lesion_mask)]
    titles = [(f"model: {_count(len(model_boxes), 'lesion')}", MODEL_RGB)]
    if truth_boxes is not None:
        panels.append(_panel(grey, truth_boxes, TRUTH_RGB, truth_mask))
        titles.append((f"label: {_count(len(truth_boxes), 'lesion')}", TRUTH_RGB))
    size = font_size(cols)
    line = math.ceil(size * LINE_SPACING)
    pad = math.ceil(size * CAPTION_PADDING)
    strip = 2 * pad + line * (1 + len(caption))
    width = len(panels) * cols + (len(panels) - 1) * PANEL_GAP_PX
    canvas = Image.new("RGB", (width, rows + strip), CAPTION_BACKGROUND_RGB)
    draw = ImageDraw.Draw(canvas)
    if len(panels) > 1:
        draw.rectangle((cols, 0, cols + PANEL_GAP_PX - 1, rows - 1), fill=GAP_RGB)
    text_font = font(size)
    for k, (panel, (title, colour)) in enumerate(zip(panels, titles, strict=True)):
        left = k * (cols + PANEL_GAP_PX)
        canvas.paste(panel, (left, 0))
        draw.text((left + pad, rows + pad), title, fill=colour, font=text_font)
    for k, text in enumerate(caption, start=1):
        draw.text((pad, rows + pad + k * line), text, fill=CAPTION_TEXT_RGB, font=text_font)
    return canvas


def _panel(grey: npt.NDArray[np.uint8], boxes: Sequence[Box], colour: RGB, mask: BoolMask | None) -> Image.Image:
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    if mask is not None and mask.any():
        outline = mask & ~ndi.binary_erosion(mask)
        rgb[outline] = OUTLINE_RGB
    image = Image.fromarray(rgb, mode="RGB")
    draw = ImageDraw.Draw(image)
    rows, cols = grey.shape
    width = line_width(cols, rows)
    for box in boxes:
        draw.rectangle(_frame(box, width, cols, rows), outline=colour, width=width)
    return image


def _frame(box: Box, width: int, cols: int, rows: int) -> tuple[int, int, int, int]:
    """The inclusive pixel rectangle whose ``width``-pixel border lies just outside ``box``."""
    x0 = math.floor(box[0]) - width
    y0 = math.floor(box[1]) - width
    x1 = math.ceil(box[2]) - 1 + width
    y1 = math.ceil(box[3]) - 1 + width
    return (
        min(max(x0, 0), cols - 1),
        min(max(y0, 0), rows - 1),
        min(max(x1, 0), cols - 1),
        min(max(y1, 0), rows - 1),
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
