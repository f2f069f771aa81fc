from __future__ import annotations

from itertools import product
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ctangel.metrics.roc import CURVE_COLOURS, WHITE, ROCMetric, compute_auc, compute_roc, plot_roc


def _mann_whitney(scores: list[float], labels: list[int]) -> float:
    """P(positive scores higher) + P(tie) / 2, over every positive-negative pair."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    won = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in product(pos, neg))
    return won / (len(pos) * len(neg))


def test_auc_without_ties_by_hand() -> None:
    # positives 0.35, 0.8; negatives 0.1, 0.4: 0.35 beats 0.1 only, 0.8 beats both -> 3 of 4 pairs.
    scores, labels = [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]
    curve = compute_roc(scores, labels)
    assert curve.auc == pytest.approx(0.75)
    # thresholds 0.8, 0.4, 0.35, 0.1: (0,.5) (.5,.5) (.5,1) (1,1) after (0,0)
    np.testing.assert_allclose(curve.fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(curve.tpr, [0, 0.5, 0.5, 1, 1])
    assert curve.thresholds[0] == np.inf
    np.testing.assert_allclose(curve.thresholds[1:], [0.8, 0.4, 0.35, 0.1])
    assert (curve.n_positive, curve.n_negative) == (2, 2)


def test_tied_scores_count_half_and_move_the_curve_diagonally() -> None:
    # positives 0.5, 0.9; negatives 0.5, 0.1. Pairs: (0.5, 0.5) tie = 1/2, the other three won -> 3.5 / 4.
    # Curve: (0,0) -> 0.9: (0, .5) -> 0.5 (one of each): (.5, 1) -> 0.1: (1, 1);
    # area 0 + 0.5 * (0.5 + 1) / 2 + 0.5 * 1 = 0.875.
    scores, labels = [0.5, 0.5, 0.9, 0.1], [1, 0, 1, 0]
    curve = compute_roc(scores, labels)
    np.testing.assert_allclose(curve.fpr, [0, 0, 0.5, 1])
    np.testing.assert_allclose(curve.tpr, [0, 0.5, 1, 1])
    assert curve.auc == pytest.approx(0.875)
    assert compute_auc(scores, labels) == pytest.approx(_mann_whitney(scores, labels))
    # all tied: the diagonal, 0.5, whatever the order the cases come in
    assert compute_auc([0.3, 0.3, 0.3, 0.3], [1, 0, 0, 1]) == pytest.approx(0.5)
    assert compute_auc([0.3, 0.3, 0.3, 0.3], [0, 1, 1, 0]) == pytest.approx(0.5)


def test_auc_equals_the_mann_whitney_probability_with_many_ties() -> None:
    rng = np.random.default_rng(0)
    scores = np.round(rng.random(40), 1).tolist()  # ten distinct values: many ties
    labels = (rng.random(40) < 0.4).astype(int).tolist()
    assert compute_auc(scores, labels) == pytest.approx(_mann_whitney(scores, labels))


def test_one_class_only_is_undefined() -> None:
    curve = compute_roc([0.2, 0.9], [1, 1])
    assert curve.auc is None
    assert curve.fpr.size == 0 and curve.tpr.size == 0
    assert curve.format_auc() == "n/a"
    assert curve.to_dict()["points"] == []
    with pytest.raises(ValueError, match="one length"):
        compute_roc([0.1, 0.2], [1])
    with pytest.raises(ValueError, match="finite"):
        compute_roc([np.nan, 0.2], [1, 0])


def test_metric_accumulates_batches() -> None:
    metric = ROCMetric()
    metric.update([0.1, 0.4], [0, 0])
    metric.update([0.35, 0.8], [1, 1])
    assert metric.aggregate().auc == pytest.approx(0.75)
    assert metric.aggregate().to_dict()["points"][0] == [0.0, 0.0, None]  # the infinite threshold as None
    metric.reset()
    assert metric.aggregate().auc is None


def test_plot_roc_writes_a_png_with_both_curves(tmp_path: Path) -> None:
    image_curve = compute_roc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    patient_curve = compute_roc([0.5, 0.5, 0.9, 0.1], [1, 0, 1, 0])
    path = plot_roc(
        {"Per image": image_curve.points(), "Per patient": patient_curve.points(), "none": ([], [], None)},
        tmp_path / "roc.png",
    )
    assert path == tmp_path / "roc.png"
    with Image.open(path) as im:
        assert im.format == "PNG"
        pixels = np.asarray(im.convert("RGB"))
    assert pixels.shape[0] > 400 and pixels.shape[1] > 400
    for colour in CURVE_COLOURS[:2]:  # each curve is drawn (its line and its legend sample)
        assert np.all(pixels == colour, axis=-1).sum() > 200, colour
    assert np.all(pixels == (0, 0, 0), axis=-1).sum() > 1000  # axes, ticks, text
    assert np.all(pixels == WHITE, axis=-1).mean() > 0.5  # mostly background
