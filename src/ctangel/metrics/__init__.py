"""Metrics: confusion counts and their rates with Wilson intervals, ROC/AUC, mask overlap, and the
evaluation of a results.json against the truth (``ctangel evaluate``).

Each metric comes as a function and an accumulating class, as in MONAI (``compute_confusion`` /
:class:`ConfusionMetric`, ``compute_roc`` / :class:`ROCMetric`, ``compute_segmentation`` /
:class:`SegmentationMetric`). :func:`evaluate` is imported from :mod:`ctangel.metrics.evaluate`.
"""

from __future__ import annotations

from ctangel.metrics.confusion import (
    ConfusionCounts,
    ConfusionMetric,
    Proportion,
    accuracy,
    compute_confusion,
    npv,
    ppv,
    sensitivity,
    specificity,
    wilson_interval,
)
from ctangel.metrics.overlap import (
    SegmentationMetric,
    SegmentationScores,
    box_iou,
    compute_dice,
    compute_iou,
    compute_segmentation,
)
from ctangel.metrics.roc import RocCurve, ROCMetric, compute_auc, compute_roc, plot_roc

__all__ = [
    "ConfusionCounts",
    "ConfusionMetric",
    "Proportion",
    "ROCMetric",
    "RocCurve",
    "SegmentationMetric",
    "SegmentationScores",
    "accuracy",
    "box_iou",
    "compute_auc",
    "compute_confusion",
    "compute_dice",
    "compute_iou",
    "compute_roc",
    "compute_segmentation",
    "npv",
    "plot_roc",
    "ppv",
    "sensitivity",
    "specificity",
    "wilson_interval",
]
