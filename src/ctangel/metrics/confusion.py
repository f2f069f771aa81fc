"""Confusion counts of binary calls, counted once, and the rates CT-Angel reports from them, each with a
95% Wilson score interval.

A rate whose denominator is zero (sensitivity with no truly positive case, PPV with no positive call, ...)
is undefined: its :class:`Proportion` has ``value``, ``low`` and ``high`` set to None and is written
``"n/a"``. It is never reported as 0 or 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

#: The two-sided 95% quantile of the standard normal distribution, ``Phi^-1(0.975)``.
Z_95: Final = 1.959963984540054
#: Decimals of a rate written as a percentage, and of its interval's bounds (CT-Angel: ``94.34%``).
PERCENT_DECIMALS: Final = 2
INTERVAL_DECIMALS: Final = 1
#: How an undefined rate (zero denominator) is written.
NOT_AVAILABLE: Final = "n/a"


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of a binomial proportion ``successes / n``.

    ``(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)``, clipped to ``[0, 1]``. Unlike the normal
    approximation it stays inside ``[0, 1]`` and is not empty at ``p = 0`` or ``p = 1``.

    Args:
        successes: cases counted as successes, ``0 <= successes <= n``.
        n: all cases.
        z: the normal quantile of the wanted level (:data:`Z_95` for 95%).

    Returns:
        ``(low, high)``, or None when ``n`` is 0 (no interval exists).

    Raises:
        ValueError: ``successes`` or ``n`` is negative, or ``successes > n``.
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return None
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Proportion:
    """A rate ``successes / n`` with its 95% Wilson interval; ``value``, ``low`` and ``high`` are None when
    ``n`` is 0.

    Args:
        successes: the numerator.
        n: the denominator.
    """

    successes: int
    n: int

    @property
    def value(self) -> float | None:
        """``successes / n`` in 0..1, or None when ``n`` is 0."""
        return None if self.n == 0 else self.successes / self.n

    @property
    def interval(self) -> tuple[float, float] | None:
        """The 95% Wilson score interval, or None when ``n`` is 0."""
        return wilson_interval(self.successes, self.n)

    def format(self) -> str:
        """The rate as CT-Angel's table writes it, ``"94.34% (90.1–96.8)"`` (interval in percent), or
        ``"n/a"``."""
        value, interval = self.value, self.interval
        if value is None or interval is None:
            return NOT_AVAILABLE
        low, high = interval
        return (
            f"{100 * value:.{PERCENT_DECIMALS}f}% "
            f"({100 * low:.{INTERVAL_DECIMALS}f}–{100 * high:.{INTERVAL_DECIMALS}f})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``value``, ``successes``, ``n`` and ``ci95`` (``[low, high]``, or None)."""
        interval = self.interval
        return {
            "value": self.value,
            "successes": self.successes,
            "n": self.n,
            "ci95": None if interval is None else [interval[0], interval[1]],
        }


@dataclass(frozen=True)
class ConfusionCounts:
    """The four counts of binary calls against the truth.

    Args:
        tp: called positive, truly positive.
        fp: called positive, truly negative.
        tn: called negative, truly negative.
        fn: called negative, truly positive.
    """

    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    @classmethod
    def from_predictions(cls, predictions: npt.ArrayLike, truths: npt.ArrayLike) -> ConfusionCounts:
        """Count calls against the truth, element by element (any shape, the same for both; non-zero is
        positive).

        Raises:
            ValueError: the shapes differ.
        """
        p = np.asarray(predictions).astype(bool)
        t = np.asarray(truths).astype(bool)
        if p.shape != t.shape:
            raise ValueError(f"predictions have shape {p.shape}, truths {t.shape}; they must match")
        return cls(
            tp=int(np.count_nonzero(p & t)),
            fp=int(np.count_nonzero(p & ~t)),
            tn=int(np.count_nonzero(~p & ~t)),
            fn=int(np.count_nonzero(~p & t)),
        )

    def __add__(self, other: ConfusionCounts) -> ConfusionCounts:
        return ConfusionCounts(self.tp + other.tp, self.fp + other.fp, self.tn + other.tn, self.fn + other.fn)

    @property
    def n(self) -> int:
        """All cases."""
        return self.tp + self.fp + self.tn + self.fn

    @property
    def positives(self) -> int:
        """Truly positive cases, ``tp + fn``."""
        return self.tp + self.fn

    @property
    def negatives(self) -> int:
        """Truly negative cases, ``tn + fp``."""
        return self.tn + self.fp

    def rates(self) -> dict[str, Proportion]:
        """Every named rate (:data:`RATES`), in CT-Angel's column order."""
        return {name: reduce(self) for name, reduce in RATES.items()}

    def format_counts(self) -> str:
        """``"TP/FP/TN/FN"`` with the numbers, such as ``"9/1/8/2"``."""
        return f"{self.tp}/{self.fp}/{self.tn}/{self.fn}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data: the counts and every rate."""
        return {
            "tp": self.tp,
            "fp": self.fp,
            "tn": self.tn,
            "fn": self.fn,
            **{name: rate.to_dict() for name, rate in self.rates().items()},
        }


def sensitivity(counts: ConfusionCounts) -> Proportion:
    """Sensitivity (recall, true positive rate): ``tp / (tp + fn)``."""
    return Proportion(counts.tp, counts.tp + counts.fn)


def specificity(counts: ConfusionCounts) -> Proportion:
    """Specificity (true negative rate): ``tn / (tn + fp)``."""
    return Proportion(counts.tn, counts.tn + counts.fp)


def accuracy(counts: ConfusionCounts) -> Proportion:
    """Accuracy: ``(tp + tn) / n``."""
    return Proportion(counts.tp + counts.tn, counts.n)


def ppv(counts: ConfusionCounts) -> Proportion:
    """Positive predictive value (precision): ``tp / (tp + fp)``."""
    return Proportion(counts.tp, counts.tp + counts.fp)


def npv(counts: ConfusionCounts) -> Proportion:
    """Negative predictive value: ``tn / (tn + fn)``."""
    return Proportion(counts.tn, counts.tn + counts.fn)


#: The rates of CT-Angel's accuracy table, by name, in its column order.
RATES: Final[dict[str, Callable[[ConfusionCounts], Proportion]]] = {
    "sensitivity": sensitivity,
    "specificity": specificity,
    "accuracy": accuracy,
    "ppv": ppv,
    "npv": npv,
}
#: Column titles of the rates, as the paper writes them.
RATE_TITLES: Final[dict[str, str]] = {
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
    "accuracy": "Accuracy",
    "ppv": "PPV",
    "npv": "NPV",
}


def compute_confusion(predictions: npt.ArrayLike, truths: npt.ArrayLike) -> ConfusionCounts:
    """Confusion counts of boolean calls against boolean truths of one shape (see
    :meth:`ConfusionCounts.from_predictions`)."""
    return ConfusionCounts.from_predictions(predictions, truths)


class ConfusionMetric:
    """Accumulates confusion counts over batches of calls, like MONAI's cumulative metrics.

    >>> metric = ConfusionMetric()
    >>> metric.update([True, False], [True, True])
    >>> metric.update([True], [False])
    >>> metric.aggregate()
    ConfusionCounts(tp=1, fp=1, tn=0, fn=1)
    """

    def __init__(self) -> None:
        self._counts = ConfusionCounts()

    def update(self, predictions: npt.ArrayLike, truths: npt.ArrayLike) -> None:
        """Add the counts of one batch of calls (see :meth:`ConfusionCounts.from_predictions`)."""
        self._counts = self._counts + ConfusionCounts.from_predictions(predictions, truths)

    def aggregate(self) -> ConfusionCounts:
        """The counts over every batch since the last :meth:`reset`."""
        return self._counts

    def reset(self) -> None:
        """Forget every batch."""
        self._counts = ConfusionCounts()
