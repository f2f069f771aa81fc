from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ctangel.report.overlay import MODEL_RGB, OUTLINE_RGB, PANEL_GAP_PX, TRUTH_RGB, draw_overlay

ROWS, COLS = 32, 40


def _is(image: npt.NDArray[np.uint8], colour: tuple[int, int, int]) -> npt.NDArray[np.bool_]:
    return np.all(image == np.asarray(colour, dtype=np.uint8), axis=-1)


def _grey() -> npt.NDArray[np.uint8]:
    return np.full((ROWS, COLS), 100, dtype=np.uint8)


def test_red_frame_lies_just_outside_the_box() -> None:
    # Box holding columns 10..19 and rows 8..13; at 40x32 the line is 1 px wide.
    rgb = np.asarray(draw_overlay(_grey(), [(10.0, 8.0, 20.0, 14.0)]))
    red = _is(rgb[:ROWS, :COLS], MODEL_RGB)
    assert red[10, 9] and red[10, 20] and red[7, 15] and red[14, 15]  # left, right, top, bottom edges
    assert red[7, 9] and red[14, 20]  # corners
    assert not red[8:14, 10:20].any()  # the lesion's own pixels stay visible
    # The frame is the 12x8 ring around the box and nothing else: 12*8 - 10*6 pixels.
    assert red.sum() == 12 * 8 - 10 * 6


def test_frame_on_the_border_stays_inside_the_image() -> None:
    rgb = np.asarray(draw_overlay(_grey(), [(0.0, 0.0, 5.0, 5.0)]))
    red = _is(rgb[:ROWS, :COLS], MODEL_RGB)
    assert red[0, 0] and red[0, 5] and red[5, 0]
    assert not red[1:5, 1:5].any()


def test_label_panel_beside_with_green_boxes() -> None:
    image = draw_overlay(_grey(), [(10.0, 8.0, 20.0, 14.0)], truth_boxes=[(2.0, 20.0, 6.0, 25.0)])
    rgb = np.asarray(image)
    assert image.size[0] == 2 * COLS + PANEL_GAP_PX
    left = COLS + PANEL_GAP_PX
    green = _is(rgb[:ROWS, left : left + COLS], TRUTH_RGB)
    assert green[22, 1] and green[22, 6] and green[19, 4] and green[25, 4]
    assert green.sum() == 6 * 7 - 4 * 5
    assert not _is(rgb[:ROWS, :COLS], TRUTH_RGB).any()  # no green on the model's panel
    assert not _is(rgb[:ROWS, left:], MODEL_RGB).any()  # no red on the label's panel


def test_lesion_outline_follows_the_mask_border() -> None:
    mask = np.zeros((ROWS, COLS), dtype=bool)
    mask[10:15, 10:15] = True
    rgb = np.asarray(draw_overlay(_grey(), [], lesion_mask=mask))
    yellow = _is(rgb[:ROWS, :COLS], OUTLINE_RGB)
    assert yellow[10, 10] and yellow[14, 12]
    assert not yellow[11:14, 11:14].any()
    assert yellow.sum() == 25 - 9


def test_caption_strip_below_the_panels() -> None:
    image = draw_overlay(_grey(), [], caption=["slice 3", "p 0.9"])
    assert image.mode == "RGB"
    assert image.size[0] == COLS and image.size[1] > ROWS
    assert np.array_equal(np.asarray(image)[:ROWS, :, 0], _grey())  # nothing drawn on an empty slice
