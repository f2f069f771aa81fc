from __future__ import annotations

import numpy as np
import pytest

from ctangel.metrics.confusion import (
    Z_95,
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

# Wilson: centre = (p + z²/2n) / (1 + z²/n), half = z / (1 + z²/n) * sqrt(p(1-p)/n + z²/4n²), z² = 3.841459.


def test_wilson_9_of_10_by_hand() -> None:
    # p = 0.9, z²/n = 0.384146, 1 + z²/n = 1.384146; centre = (0.9 + 0.192073) / 1.384146 = 0.788985;
    # sqrt(0.009 + 0.0096036) = 0.136395, half = 1.959964 / 1.384146 * 0.136395 = 0.193136.
    low, high = wilson_interval(9, 10)  # type: ignore[misc]
    assert low == pytest.approx(0.5958, abs=1e-4)
    assert high == pytest.approx(0.9821, abs=1e-4)


def test_wilson_at_the_edges_by_hand() -> None:
    # p = 0: centre = half = z² / 2(n + z²), so (0, z² / (n + z²)); p = 1 mirrors it: (n / (n + z²), 1).
    z2 = Z_95**2
    assert wilson_interval(0, 5) == pytest.approx((0.0, z2 / (5 + z2)))  # (0, 0.4345)
    assert wilson_interval(5, 5) == pytest.approx((5 / (5 + z2), 1.0))  # (0.5655, 1)
    assert wilson_interval(0, 0) is None  # no cases: no interval
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(3, 2)
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(-1, 2)


def test_counts_from_predictions_by_hand() -> None:
    pred = [True, True, False, False, True]
    true = [True, False, False, True, True]
    #        tp    fp     tn     fn    tp
    assert compute_confusion(pred, true) == ConfusionCounts(tp=2, fp=1, tn=1, fn=1)
    assert ConfusionCounts.from_predictions(np.array([[1, 0]]), np.array([[1, 1]])) == ConfusionCounts(1, 0, 0, 1)
    with pytest.raises(ValueError, match="shape"):
        compute_confusion([True], [True, False])


def test_rates_and_intervals_of_a_table_worked_by_hand() -> None:
    counts = ConfusionCounts(tp=9, fp=2, tn=8, fn=1)  # n = 20
    # sensitivity 9/10 = 0.9      Wilson (0.5958, 0.9821), as above
    # specificity 8/10 = 0.8      z²/n = 0.384146: centre 0.992073/1.384146 = 0.716740,
    #                             half 1.416010 * sqrt(0.016 + 0.0096036) = 0.226577 -> (0.4902, 0.9433)
    # accuracy   17/20 = 0.85     z²/n = 0.192073: centre 0.946037/1.192073 = 0.793607,
    #                             half 1.644167 * sqrt(0.006375 + 0.0024009) = 0.154026 -> (0.6396, 0.9476)
    # PPV         9/11 = 0.8182   z²/n = 0.349224: centre 0.992794/1.349224 = 0.735826,
    #                             half 1.452649 * sqrt(0.0135237 + 0.0079369) = 0.212804 -> (0.5230, 0.9486)
    # NPV          8/9 = 0.8889   z²/n = 0.426829: centre 1.102304/1.426829 = 0.772559,
    #                             half 1.373650 * sqrt(0.0109739 + 0.0118563) = 0.207554 -> (0.5650, 0.9801)
    expected = {
        "sensitivity": (9, 10, 0.5958, 0.9821),
        "specificity": (8, 10, 0.4902, 0.9433),
        "accuracy": (17, 20, 0.6396, 0.9476),
        "ppv": (9, 11, 0.5230, 0.9486),
        "npv": (8, 9, 0.5650, 0.9801),
    }
    rates = counts.rates()
    assert list(rates) == list(expected)  # CT-Angel's column order
    for name, (k, n, low, high) in expected.items():
        rate = rates[name]
        assert (rate.successes, rate.n) == (k, n), name
        assert rate.value == pytest.approx(k / n)
        assert rate.interval == pytest.approx((low, high), abs=1e-4), name
    assert sensitivity(counts) == rates["sensitivity"]
    assert specificity(counts) == rates["specificity"]
    assert accuracy(counts) == rates["accuracy"]
    assert ppv(counts) == rates["ppv"]
    assert npv(counts) == rates["npv"]
    assert rates["sensitivity"].format() == "90.00% (59.6–98.2)"
    assert rates["ppv"].format() == "81.82% (52.3–94.9)"
    assert counts.format_counts() == "9/2/8/1"
    assert (counts.n, counts.positives, counts.negatives) == (20, 10, 10)


def test_zero_denominator_is_undefined_not_zero() -> None:
    counts = ConfusionCounts(tp=0, fp=0, tn=3, fn=0)  # no positive case, no positive call
    assert sensitivity(counts) == Proportion(0, 0)
    assert sensitivity(counts).value is None
    assert sensitivity(counts).interval is None
    assert sensitivity(counts).format() == "n/a"
    assert ppv(counts).format() == "n/a"
    assert specificity(counts).value == 1.0
    as_dict = counts.to_dict()
    assert as_dict["sensitivity"] == {"value": None, "successes": 0, "n": 0, "ci95": None}
    assert as_dict["tn"] == 3


def test_metric_accumulates_and_resets() -> None:
    metric = ConfusionMetric()
    metric.update([True, False], [True, True])  # tp, fn
    metric.update(np.array([True, False]), np.array([False, False]))  # fp, tn
    assert metric.aggregate() == ConfusionCounts(tp=1, fp=1, tn=1, fn=1)
    metric.reset()
    assert metric.aggregate() == ConfusionCounts()
