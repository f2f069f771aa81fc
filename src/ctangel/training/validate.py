"""Validation during training, through the same stages and post-processing the pipeline uses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ctangel.inference.postprocess import find_lesions, valid_region
from ctangel.inference.settings import AnalysisSettings
from ctangel.inference.stages import LesionStage, LungStage
from ctangel.metrics.overlap import box_iou, compute_dice, compute_iou
from ctangel.models.registry import LoadedModel
from ctangel.preprocessing import mask_box
from ctangel.training.data import Example


def validate_lung(model: LoadedModel, examples: Sequence[Example], settings: AnalysisSettings) -> dict[str, float]:
    """Agreement of the lung stage with the lung labels: mean mask IoU and mean box IoU.

    Slices where neither finds lung count as 1 for both.
    """
    results = LungStage(model, settings)([(e.pixels, e.kind) for e in examples])
    ious = [compute_iou(r.mask, e.label) for r, e in zip(results, examples, strict=True)]
    box_ious = [box_iou(r.box, mask_box(e.label)) for r, e in zip(results, examples, strict=True)]
    return {
        "score": float(np.mean(ious)),
        "mask_iou": float(np.mean(ious)),
        "box_iou": float(np.mean(box_ious)),
    }


def validate_lesion(model: LoadedModel, examples: Sequence[Example], settings: AnalysisSettings) -> dict[str, float]:
    """Lesion figures on examples whose ``lung_box`` is set: mean Dice over positive slices, the share of
    negative slices called positive, and ``score = (mean Dice + (1 - that share)) / 2`` (only the Dice when
    there are no negatives).
    """
    stage = LesionStage(model, settings)
    probs = stage([(e.pixels, e.kind) for e in examples], [e.lung_box for e in examples])
    dices, false_pos = [], []
    for e, prob in zip(examples, probs, strict=True):
        shape: tuple[int, int] = e.pixels.shape
        if prob is None:
            pred = np.zeros(shape, dtype=bool)
        else:
            scaled = settings.scaled_to(shape)
            region = valid_region(e.lung_box, scaled.valid_region_margin_px, shape)
            _, pred = find_lesions(prob, region, settings.lesion_threshold, scaled.min_lesion_area_px)
        if e.positive:
            dices.append(compute_dice(pred, e.label))
        else:
            false_pos.append(bool(pred.any()))
    mean_dice = float(np.mean(dices)) if dices else 0.0
    fp_rate = float(np.mean(false_pos)) if false_pos else 0.0
    score = (mean_dice + 1.0 - fp_rate) / 2 if false_pos else mean_dice
    return {
        "score": score,
        "mean_dice": mean_dice,
        "negative_fp_rate": fp_rate,
        "n_pos": len(dices),
        "n_neg": len(false_pos),
    }
