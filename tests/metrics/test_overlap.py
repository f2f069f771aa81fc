from __future__ import annotations

import numpy as np
import pytest

from ctangel.metrics.confusion import ConfusionCounts
from ctangel.metrics.overlap import (
    SegmentationMetric,
    box_iou,
    compute_dice,
    compute_iou,
    compute_segmentation,
)


def test_dice_and_iou_by_hand() -> None:
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[0, :3] = True  # 3 px
    b[0, 1:] = True  # 3 px, 2 shared
    assert compute_dice(a, b) == pytest.approx(4 / 6)
    assert compute_iou(a, b) == pytest.approx(2 / 4)
    empty = np.zeros((4, 4), bool)
    assert compute_dice(empty, empty) == 1.0
    assert compute_dice(empty, empty, empty=0.0) == 0.0
    assert compute_dice(a, empty) == 0.0


def test_box_iou_by_hand() -> None:
    assert box_iou((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)
    assert box_iou(None, None) == 1.0
    assert box_iou((0, 0, 1, 1), None) == 0.0


def _three_slices() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Three 4x4 slices: a half-right one, an exact one, and an empty truth with one false pixel."""
    preds = [np.zeros((4, 4), bool) for _ in range(3)]
    truths = [np.zeros((4, 4), bool) for _ in range(3)]
    truths[0][0, :] = True  # 4 px
    preds[0][0:2, 0:2] = True  # 4 px, 2 of them on the truth: tp 2, fp 2, fn 2, tn 10
    truths[1][1, 1:3] = True
    preds[1][1, 1:3] = True  # exact: tp 2, fp 0, fn 0, tn 14
    preds[2][3, 3] = True  # empty truth: fp 1, tn 15
    return preds, truths


def test_mean_over_lesion_slices_and_pooled_by_hand() -> None:
    preds, truths = _three_slices()
    scores = compute_segmentation(preds, truths)
    # Mean over the two slices with lesion (the empty-truth slice is left out):
    #   Dice (4/8 + 1) / 2 = 0.75; IoU (2/6 + 1) / 2 = 2/3; sensitivity (2/4 + 1) / 2 = 0.75;
    #   specificity (10/12 + 14/14) / 2 = 11/12.
    assert scores.n_slices == 3
    assert scores.n_lesion_slices == 2
    assert scores.dice_mean == pytest.approx(0.75)
    assert scores.iou_mean == pytest.approx(2 / 3)
    assert scores.sensitivity_mean == pytest.approx(0.75)
    assert scores.specificity_mean == pytest.approx(11 / 12)
    # Pooled over all 48 pixels: tp 4, fp 3, fn 2, tn 39.
    #   Dice 8 / (8 + 3 + 2) = 8/13; IoU 4 / 9; sensitivity 4/6; specificity 39/42.
    assert scores.pixels == ConfusionCounts(tp=4, fp=3, tn=39, fn=2)
    assert scores.dice_pooled == pytest.approx(8 / 13)
    assert scores.iou_pooled == pytest.approx(4 / 9)
    assert scores.sensitivity_pooled == pytest.approx(2 / 3)
    assert scores.specificity_pooled == pytest.approx(13 / 14)
    # The empty-truth slice, apart: 1 slice, 1 with a predicted pixel.
    assert (scores.n_empty_truth, scores.n_empty_truth_predicted) == (1, 1)
    assert scores.empty_truth_predicted_share == 1.0
    as_dict = scores.to_dict()
    assert as_dict["mean_over_lesion_slices"]["n_slices"] == 2
    assert as_dict["pooled_over_all_pixels"]["pixels"] == {"tp": 4, "fp": 3, "tn": 39, "fn": 2}


def test_metric_accumulates_resets_and_checks_shapes() -> None:
    preds, truths = _three_slices()
    metric = SegmentationMetric()
    for p, t in zip(preds, truths, strict=True):
        metric.update(p, t)
    assert metric.aggregate() == compute_segmentation(preds, truths)
    metric.reset()
    empty = metric.aggregate()
    assert empty.n_slices == 0
    assert empty.dice_mean is None and empty.dice_pooled is None and empty.empty_truth_predicted_share is None
    with pytest.raises(ValueError, match="shape"):
        metric.update(np.zeros((2, 2), bool), np.zeros((2, 3), bool))
    with pytest.raises(ValueError):
        compute_segmentation(preds, truths[:2])


def test_only_empty_truth_slices_leave_the_means_undefined() -> None:
    scores = compute_segmentation([np.zeros((2, 2), bool)], [np.zeros((2, 2), bool)])
    assert scores.dice_mean is None  # nothing to average: not 1, not 0
    assert scores.dice_pooled is None  # no lesion pixel anywhere
    assert scores.specificity_pooled == 1.0
    assert (scores.n_empty_truth, scores.n_empty_truth_predicted) == (1, 0)
