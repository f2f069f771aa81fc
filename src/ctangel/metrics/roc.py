"""ROC curves and the area under them, from scores and binary labels; a PNG of one or more curves.

The curve steps through every distinct score, highest first; cases that share a score move it
diagonally, so the trapezoid area counts a tied positive-negative pair as half won. The AUC is therefore
exactly the Mann-Whitney probability ``P(score of a positive > score of a negative) + P(tie) / 2``.

With no truly positive or no truly negative case the curve and its AUC are undefined: ``fpr`` and ``tpr``
are empty and ``auc`` is None (written ``"n/a"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from ctangel.log import logger

#: Decimals of an AUC in text (legends, tables).
AUC_DECIMALS: Final = 3

# --- the plot ------------------------------------------------------------------------------------------
#: Side of the square plotting area, and the margins around it, in pixels.
PLOT_SIDE_PX: Final = 520
MARGIN_LEFT_PX: Final = 84
MARGIN_RIGHT_PX: Final = 24
MARGIN_TOP_PX: Final = 44
MARGIN_BOTTOM_PX: Final = 72
#: Axis ticks (both axes), in 0..1.
TICKS: Final = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
TICK_LENGTH_PX: Final = 6
#: Text heights in pixels.
FONT_PX: Final = 15
TITLE_FONT_PX: Final = 18
#: Line widths in pixels.
CURVE_WIDTH_PX: Final = 3
AXIS_WIDTH_PX: Final = 2
#: The chance diagonal is dashed: dash and gap lengths along it, in pixels.
DASH_PX: Final = 8
GAP_PX: Final = 6
#: Legend: the sample line's length, padding and line spacing, in pixels.
LEGEND_LINE_PX: Final = 28
LEGEND_PAD_PX: Final = 8
LEGEND_ROW_PX: Final = 22
WHITE: Final = (255, 255, 255)
BLACK: Final = (0, 0, 0)
GRID_GREY: Final = (225, 225, 225)
DIAGONAL_GREY: Final = (150, 150, 150)
#: Curve colours, in the order the curves are given (repeated when there are more curves).
CURVE_COLOURS: Final = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14))
X_LABEL: Final = "1 - specificity (false positive rate)"
Y_LABEL: Final = "sensitivity (true positive rate)"

#: What :func:`plot_roc` draws per curve: false positive rates, true positive rates, AUC (None: undefined).
CurvePoints = tuple[
    Sequence[float] | npt.NDArray[np.floating], Sequence[float] | npt.NDArray[np.floating], float | None
]


@dataclass(frozen=True)
class RocCurve:
    """A ROC curve: one point per distinct score, from ``(0, 0)`` to ``(1, 1)``.

    Args:
        fpr: false positive rates, rising (empty when a class is missing).
        tpr: true positive rates, rising, one per ``fpr``.
        thresholds: the score a case needs to be called positive at each point (``>=``); the first is
            ``inf`` (nothing called positive).
        auc: the trapezoid area under the curve, or None when a class is missing.
        n_positive: truly positive cases.
        n_negative: truly negative cases.
    """

    fpr: npt.NDArray[np.float64]
    tpr: npt.NDArray[np.float64]
    thresholds: npt.NDArray[np.float64]
    auc: float | None
    n_positive: int
    n_negative: int

    def points(self) -> CurvePoints:
        """``(fpr, tpr, auc)``, as :func:`plot_roc` takes them."""
        return self.fpr, self.tpr, self.auc

    def format_auc(self) -> str:
        """The AUC with :data:`AUC_DECIMALS` decimals, or ``"n/a"``."""
        return "n/a" if self.auc is None else f"{self.auc:.{AUC_DECIMALS}f}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``auc``, the class sizes and ``points`` as ``[fpr, tpr, threshold]`` (the first
        threshold, infinite, written as None)."""
        return {
            "auc": self.auc,
            "n_positive": self.n_positive,
            "n_negative": self.n_negative,
            "points": [
                [float(f), float(t), None if not np.isfinite(th) else float(th)]
                for f, t, th in zip(self.fpr, self.tpr, self.thresholds, strict=True)
            ],
        }


def compute_roc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> RocCurve:
    """The ROC curve and AUC of ``scores`` (higher: more likely positive) against boolean ``labels``.

    Args:
        scores: one finite score per case.
        labels: one truth per case (non-zero: positive).

    Raises:
        ValueError: the two differ in length, are not 1-D, or a score is not finite.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    if s.ndim != 1 or s.shape != y.shape:
        raise ValueError(f"scores {s.shape} and labels {y.shape} must be 1-D and of one length")
    if not np.all(np.isfinite(s)):
        raise ValueError("every score must be finite")
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    empty = np.zeros(0, dtype=np.float64)
    if n_pos == 0 or n_neg == 0:
        return RocCurve(empty, empty, empty, None, n_pos, n_neg)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    # The last case of each run of equal scores: a point of the curve.
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(y)[last]
    fps = (last + 1) - tps
    fpr = np.r_[0.0, fps / n_neg]
    tpr = np.r_[0.0, tps / n_pos]
    thresholds = np.r_[np.inf, s[last]]
    auc = float(np.trapezoid(tpr, fpr))
    return RocCurve(fpr, tpr, thresholds, auc, n_pos, n_neg)


def compute_auc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float | None:
    """The area under the ROC curve (see :func:`compute_roc`); None when a class is missing."""
    return compute_roc(scores, labels).auc


class ROCMetric:
    """Accumulates scores and labels over batches; :meth:`aggregate` gives the ROC curve of them all.

    >>> metric = ROCMetric()
    >>> metric.update([0.9, 0.2], [1, 0])
    >>> metric.update([0.5], [1])
    >>> metric.aggregate().auc
    1.0
    """

    def __init__(self) -> None:
        self._scores: list[npt.NDArray[np.float64]] = []
        self._labels: list[npt.NDArray[np.bool_]] = []

    def update(self, scores: npt.ArrayLike, labels: npt.ArrayLike) -> None:
        """Add one batch of scores and their labels (1-D, of one length).

        Raises:
            ValueError: the two differ in length.
        """
        s = np.atleast_1d(np.asarray(scores, dtype=np.float64))
        y = np.atleast_1d(np.asarray(labels).astype(bool))
        if s.shape != y.shape or s.ndim != 1:
            raise ValueError(f"scores {s.shape} and labels {y.shape} must be 1-D and of one length")
        self._scores.append(s)
        self._labels.append(y)

    def aggregate(self) -> RocCurve:
        """The ROC curve over every batch since the last :meth:`reset`."""
        if not self._scores:
            return compute_roc(np.zeros(0), np.zeros(0, dtype=bool))
        return compute_roc(np.concatenate(self._scores), np.concatenate(self._labels))

    def reset(self) -> None:
        """Forget every batch."""
        self._scores.clear()
        self._labels.clear()


def plot_roc(curves: Mapping[str, CurvePoints], path: Path, title: str = "ROC") -> Path:
    """Draw ROC curves into a PNG with Pillow: axes with ticks and labels, the chance diagonal, each curve
    in its own colour and a legend giving each curve's AUC. A curve with no points (undefined) appears in
    the legend only, as ``AUC n/a``.

    Args:
        curves: per name, ``(fpr, tpr, auc)``, rates in 0..1.
        path: the PNG to write (its folder must exist).
        title: the text above the plot.

    Returns:
        ``path``.
    """
    width = MARGIN_LEFT_PX + PLOT_SIDE_PX + MARGIN_RIGHT_PX
    height = MARGIN_TOP_PX + PLOT_SIDE_PX + MARGIN_BOTTOM_PX
    image = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=FONT_PX)
    title_font = ImageFont.load_default(size=TITLE_FONT_PX)

    def xy(fpr: float, tpr: float) -> tuple[float, float]:
        return MARGIN_LEFT_PX + fpr * PLOT_SIDE_PX, MARGIN_TOP_PX + (1.0 - tpr) * PLOT_SIDE_PX

    left, top = xy(0.0, 1.0)
    right, bottom = xy(1.0, 0.0)
    for tick in TICKS:
        x, _ = xy(tick, 0.0)
        _, y = xy(0.0, tick)
        draw.line([(x, top), (x, bottom)], fill=GRID_GREY)
        draw.line([(left, y), (right, y)], fill=GRID_GREY)
        draw.line([(x, bottom), (x, bottom + TICK_LENGTH_PX)], fill=BLACK, width=AXIS_WIDTH_PX)
        draw.line([(left - TICK_LENGTH_PX, y), (left, y)], fill=BLACK, width=AXIS_WIDTH_PX)
        label = f"{tick:.1f}"
        draw.text((x, bottom + TICK_LENGTH_PX + 2), label, fill=BLACK, font=font, anchor="mt")
        draw.text((left - TICK_LENGTH_PX - 4, y), label, fill=BLACK, font=font, anchor="rm")
    _dashed(draw, xy(0.0, 0.0), xy(1.0, 1.0))
    draw.rectangle([left, top, right, bottom], outline=BLACK, width=AXIS_WIDTH_PX)

    legend: list[tuple[str, tuple[int, int, int]]] = []
    for i, (name, (fpr, tpr, auc)) in enumerate(curves.items()):
        colour = CURVE_COLOURS[i % len(CURVE_COLOURS)]
        points = [xy(float(f), float(t)) for f, t in zip(fpr, tpr, strict=True)]
        if len(points) >= 2:
            draw.line(points, fill=colour, width=CURVE_WIDTH_PX, joint="curve")
        auc_text = "n/a" if auc is None else f"{auc:.{AUC_DECIMALS}f}"
        legend.append((f"{name} (AUC {auc_text})", colour))
    _legend(draw, legend, font, right, bottom)

    draw.text(((left + right) / 2, MARGIN_TOP_PX / 2), title, fill=BLACK, font=title_font, anchor="mm")
    draw.text(((left + right) / 2, height - MARGIN_BOTTOM_PX / 3), X_LABEL, fill=BLACK, font=font, anchor="mm")
    _vertical_text(image, Y_LABEL, font, centre=(MARGIN_LEFT_PX // 4, int((top + bottom) / 2)))
    image.save(path)
    logger.info("wrote %s", path)
    return path


def _dashed(draw: ImageDraw.ImageDraw, start: tuple[float, float], end: tuple[float, float]) -> None:
    (x0, y0), (x1, y1) = start, end
    length = float(np.hypot(x1 - x0, y1 - y0))
    step = DASH_PX + GAP_PX
    for a in np.arange(0.0, length, step):
        b = min(a + DASH_PX, length)
        f0, f1 = a / length, b / length
        draw.line(
            [(x0 + f0 * (x1 - x0), y0 + f0 * (y1 - y0)), (x0 + f1 * (x1 - x0), y0 + f1 * (y1 - y0))],
            fill=DIAGONAL_GREY,
            width=AXIS_WIDTH_PX,
        )


def _legend(
    draw: ImageDraw.ImageDraw,
    entries: list[tuple[str, tuple[int, int, int]]],
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    right: float,
    bottom: float,
) -> None:
    """The legend in the plot's lower right corner (a ROC curve rarely goes there)."""
    if not entries:
        return
    text_width = max(draw.textlength(text, font=font) for text, _ in entries)
    box_w = LEGEND_PAD_PX * 3 + LEGEND_LINE_PX + text_width
    box_h = LEGEND_PAD_PX * 2 + LEGEND_ROW_PX * len(entries)
    x0, y0 = right - box_w - LEGEND_PAD_PX, bottom - box_h - LEGEND_PAD_PX
    draw.rectangle([x0, y0, x0 + box_w, y0 + box_h], fill=WHITE, outline=BLACK)
    for i, (text, colour) in enumerate(entries):
        y = y0 + LEGEND_PAD_PX + LEGEND_ROW_PX * (i + 0.5)
        lx = x0 + LEGEND_PAD_PX
        draw.line([(lx, y), (lx + LEGEND_LINE_PX, y)], fill=colour, width=CURVE_WIDTH_PX)
        draw.text((lx + LEGEND_LINE_PX + LEGEND_PAD_PX, y), text, fill=BLACK, font=font, anchor="lm")


def _vertical_text(
    image: Image.Image,
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    centre: tuple[int, int],
) -> None:
    """``text`` turned a quarter anticlockwise (read bottom to top), centred on ``centre``."""
    probe = ImageDraw.Draw(image)
    x0, y0, x1, y1 = probe.textbbox((0, 0), text, font=font)
    strip = Image.new("L", (int(x1 - x0) + 2, int(y1 - y0) + 2), 0)
    ImageDraw.Draw(strip).text((-x0 + 1, -y0 + 1), text, fill=255, font=font)
    strip = strip.rotate(90, expand=True)
    ink = Image.new("RGB", strip.size, BLACK)
    image.paste(ink, (centre[0] - strip.width // 2, centre[1] - strip.height // 2), mask=strip)
