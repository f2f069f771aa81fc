"""Overlap of masks and boxes: Dice and IoU of one pair, and lesion-mask scores over many slices."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ctangel._types import Box
from ctangel.metrics.confusion import ConfusionCounts, sensitivity, specificity


def compute_dice(pred: npt.NDArray[np.bool_], truth: npt.NDArray[np.bool_], empty: float = 1.0) -> float:
    """Dice ``2|P∩T| / (|P| + |T|)`` of two masks of one shape.

    Args:
        pred: predicted mask.
        truth: true mask.
        empty: the value when both masks are empty (1: nothing to find, nothing found).
    """
    p, t = np.asarray(pred, bool), np.asarray(truth, bool)
    denom = int(p.sum()) + int(t.sum())
    if denom == 0:
        return empty
    return 2.0 * int(np.logical_and(p, t).sum()) / denom


def compute_iou(pred: npt.NDArray[np.bool_], truth: npt.NDArray[np.bool_], empty: float = 1.0) -> float:
    """Intersection over union ``|P∩T| / |P∪T|`` of two masks; ``empty`` when both are empty."""
    p, t = np.asarray(pred, bool), np.asarray(truth, bool)
    union = int(np.logical_or(p, t).sum())
    if union == 0:
        return empty
    return int(np.logical_and(p, t).sum()) / union


def box_iou(a: Box | None, b: Box | None, empty: float = 1.0) -> float:
    """IoU of two boxes ``(x0, y0, x1, y1)``; ``empty`` when both are None, 0 when only one is."""
    if a is None and b is None:
        return empty
    if a is None or b is None:
        return 0.0
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else empty


@dataclass(frozen=True)
class SegmentationScores:
    """How well predicted lesion masks overlap the true ones, over many slices.

    Two summaries, as papers report either:

    * the **mean over slices** (Inf-Net's Dice, IoU, "Sen." and "Spec.", computed per slice then averaged)
      is taken over the slices whose truth holds lesion only: on a slice with no true lesion, Dice is 0
      for any false pixel and undefined otherwise, which says nothing about lesion outlines (Inf-Net's
      test slices all hold lesion). A slice with no background pixel is left out of the mean specificity.
      Empty-truth slices are summarised apart: how many there are and how many got any predicted pixel.
    * the **pooled** figures count pixels over every slice, empty-truth slices included:
      Dice ``2TP / (2TP + FP + FN)``, IoU ``TP / (TP + FP + FN)``, pixel sensitivity and specificity.

    A figure with nothing to average or a zero denominator is None.

    Args:
        n_slices: slices seen.
        n_lesion_slices: slices whose truth holds lesion (those in the means).
        dice_mean: mean Dice over the lesion slices.
        iou_mean: mean IoU over the lesion slices.
        sensitivity_mean: mean pixel sensitivity over the lesion slices.
        specificity_mean: mean pixel specificity over the lesion slices that have background.
        pixels: pixel confusion counts over every slice.
        n_empty_truth: slices whose truth holds no lesion.
        n_empty_truth_predicted: of those, slices with at least one predicted lesion pixel.
    """

    n_slices: int
    n_lesion_slices: int
    dice_mean: float | None
    iou_mean: float | None
    sensitivity_mean: float | None
    specificity_mean: float | None
    pixels: ConfusionCounts
    n_empty_truth: int
    n_empty_truth_predicted: int

    @property
    def dice_pooled(self) -> float | None:
        """Dice over every pixel of every slice, or None with no lesion pixel in truth or prediction."""
        p = self.pixels
        denom = 2 * p.tp + p.fp + p.fn
        return None if denom == 0 else 2 * p.tp / denom

    @property
    def iou_pooled(self) -> float | None:
        """IoU over every pixel of every slice, or None with no lesion pixel in truth or prediction."""
        p = self.pixels
        denom = p.tp + p.fp + p.fn
        return None if denom == 0 else p.tp / denom

    @property
    def sensitivity_pooled(self) -> float | None:
        """True lesion pixels found, over every slice; None with no true lesion pixel."""
        return sensitivity(self.pixels).value

    @property
    def specificity_pooled(self) -> float | None:
        """True background pixels left unmarked, over every slice; None with no background pixel."""
        return specificity(self.pixels).value

    @property
    def empty_truth_predicted_share(self) -> float | None:
        """The share of empty-truth slices with any predicted lesion pixel; None with no such slice."""
        return None if self.n_empty_truth == 0 else self.n_empty_truth_predicted / self.n_empty_truth

    def to_dict(self) -> dict[str, Any]:
        """Plain data: every figure, both summaries and the pixel counts."""
        p = self.pixels
        return {
            "n_slices": self.n_slices,
            "mean_over_lesion_slices": {
                "n_slices": self.n_lesion_slices,
                "dice": self.dice_mean,
                "iou": self.iou_mean,
                "sensitivity": self.sensitivity_mean,
                "specificity": self.specificity_mean,
            },
            "pooled_over_all_pixels": {
                "n_slices": self.n_slices,
                "dice": self.dice_pooled,
                "iou": self.iou_pooled,
                "sensitivity": self.sensitivity_pooled,
                "specificity": self.specificity_pooled,
                "pixels": {"tp": p.tp, "fp": p.fp, "tn": p.tn, "fn": p.fn},
            },
            "empty_truth_slices": {
                "n_slices": self.n_empty_truth,
                "with_predicted_lesion": self.n_empty_truth_predicted,
                "share_with_predicted_lesion": self.empty_truth_predicted_share,
            },
        }


class SegmentationMetric:
    """Accumulates Dice, IoU and pixel sensitivity/specificity slice by slice, like MONAI's ``DiceMetric``;
    :meth:`aggregate` gives both the mean over lesion slices and the pooled figures
    (see :class:`SegmentationScores`). Memory holds four numbers per slice, not the masks.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every slice."""
        self._dice: list[float] = []
        self._iou: list[float] = []
        self._sensitivity: list[float] = []
        self._specificity: list[float] = []
        self._pixels = ConfusionCounts()
        self._n_slices = 0
        self._n_empty = 0
        self._n_empty_predicted = 0

    def update(self, pred: npt.NDArray[np.bool_], truth: npt.NDArray[np.bool_]) -> None:
        """Add one slice's predicted and true lesion masks (one shape; non-zero is lesion).

        Raises:
            ValueError: the shapes differ.
        """
        counts = ConfusionCounts.from_predictions(pred, truth)
        self._pixels = self._pixels + counts
        self._n_slices += 1
        if counts.positives == 0:
            self._n_empty += 1
            self._n_empty_predicted += int(counts.fp > 0)
            return
        self._dice.append(2 * counts.tp / (2 * counts.tp + counts.fp + counts.fn))
        self._iou.append(counts.tp / (counts.tp + counts.fp + counts.fn))
        self._sensitivity.append(counts.tp / counts.positives)
        if counts.negatives > 0:
            self._specificity.append(counts.tn / counts.negatives)

    def aggregate(self) -> SegmentationScores:
        """The scores over every slice since the last :meth:`reset`."""
        return SegmentationScores(
            n_slices=self._n_slices,
            n_lesion_slices=len(self._dice),
            dice_mean=_mean(self._dice),
            iou_mean=_mean(self._iou),
            sensitivity_mean=_mean(self._sensitivity),
            specificity_mean=_mean(self._specificity),
            pixels=self._pixels,
            n_empty_truth=self._n_empty,
            n_empty_truth_predicted=self._n_empty_predicted,
        )


def compute_segmentation(
    preds: Iterable[npt.NDArray[np.bool_]], truths: Iterable[npt.NDArray[np.bool_]]
) -> SegmentationScores:
    """:class:`SegmentationScores` of predicted against true lesion masks, slice by slice.

    Args:
        preds: one predicted mask per slice.
        truths: the true mask of each slice, in the same order and shape.

    Raises:
        ValueError: the two differ in length, or a pair differs in shape.
    """
    metric = SegmentationMetric()
    for pred, truth in zip(preds, truths, strict=True):
        metric.update(pred, truth)
    return metric.aggregate()


def _mean(values: list[float]) -> float | None:
    return None if not values else float(np.mean(values))
