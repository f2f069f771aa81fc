"""Lobes or zones of each lung, and the CT severity score.

Two ways to cut a lung, named in every output as what they are:

* ``lobes``: the five lobes *estimated from the lung's shape alone* (no fissure is seen: the models do not
  find them): the oblique fissure and the right horizontal fissure are taken as planes at fixed places in
  each lung's own box (:data:`~ctangel.constants.OBLIQUE_FISSURE_POSTERIOR_T` and the constants beside it).
  Pan et al.'s severity score (0-25) is defined on lobes.
* ``zones``: each lung cut by height into upper, middle and lower thirds; six zones, score 0-30.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

import numpy as np
import numpy.typing as npt

from ctangel.anatomy.lungs import LEFT, RIGHT
from ctangel.constants import (
    HORIZONTAL_FISSURE_T,
    OBLIQUE_FISSURE_ANTERIOR_T,
    OBLIQUE_FISSURE_ANTERIOR_U,
    OBLIQUE_FISSURE_POSTERIOR_T,
    SEVERITY_SCORE_MAX_PER_REGION,
    SEVERITY_SCORE_UPPER_PERCENT,
    ZONE_BOUNDS,
)

#: How the lungs are cut into regions.
RegionMethod = Literal["lobes", "zones"]
REGION_METHODS: Final[tuple[str, ...]] = get_args(RegionMethod)
DEFAULT_REGION_METHOD: Final[RegionMethod] = "lobes"

#: What each method is, in words, for reports.
METHOD_NOTES: Final[dict[str, str]] = {
    "lobes": (
        "lobes estimated from each lung's shape (fissures are not segmented: the oblique and the right "
        "horizontal fissure are taken as planes at fixed places in each lung's box); CT severity score "
        "0-25 as in Pan et al., Radiology 2020"
    ),
    "zones": (
        "zones: each lung cut by height into upper, middle and lower thirds (not lobes); "
        "score 0-5 per zone as Pan et al. score lobes, total 0-30"
    ),
}


@dataclass(frozen=True)
class Region:
    """One lobe or zone.

    Args:
        key: short name (``RUL``, ``LLZ``...), as the columns of summary.csv.
        name: in words (``right upper lobe``).
        side: :data:`~ctangel.anatomy.lungs.RIGHT` or :data:`~ctangel.anatomy.lungs.LEFT`.
    """

    key: str
    name: str
    side: int


LOBES: Final = (
    Region("RUL", "right upper lobe", RIGHT),
    Region("RML", "right middle lobe", RIGHT),
    Region("RLL", "right lower lobe", RIGHT),
    Region("LUL", "left upper lobe", LEFT),
    Region("LLL", "left lower lobe", LEFT),
)
ZONES: Final = (
    Region("RUZ", "right upper zone", RIGHT),
    Region("RMZ", "right middle zone", RIGHT),
    Region("RLZ", "right lower zone", RIGHT),
    Region("LUZ", "left upper zone", LEFT),
    Region("LMZ", "left middle zone", LEFT),
    Region("LLZ", "left lower zone", LEFT),
)


def regions_of(method: RegionMethod) -> tuple[Region, ...]:
    """The regions ``method`` makes, right lung first, top to bottom."""
    return LOBES if method == "lobes" else ZONES


def region_index(
    method: RegionMethod, side: int, t: float | npt.NDArray[np.float64], u: npt.NDArray[np.float64]
) -> npt.NDArray[np.int8]:
    """Index into :func:`regions_of` of each pixel of one lung.

    Args:
        method: lobes or zones.
        side: which lung.
        t: height in the lung, 0 at its apex to 1 at its base (scalar for a slice, or per pixel).
        u: depth in the lung, 0 at its front to 1 at its back, per pixel.
    """
    t_arr = np.broadcast_to(np.asarray(t, dtype=np.float64), u.shape)
    if method == "zones":
        third = np.searchsorted(np.asarray(ZONE_BOUNDS), t_arr, side="right").astype(np.int8)
        return third if side == RIGHT else (third + 3).astype(np.int8)
    # Oblique fissure: t_f(u) runs from T_ANT at u = U_ANT (front of the diaphragm) to T_POST at u = 1 (back).
    slope = (OBLIQUE_FISSURE_ANTERIOR_T - OBLIQUE_FISSURE_POSTERIOR_T) / (1.0 - OBLIQUE_FISSURE_ANTERIOR_U)
    fissure_t = OBLIQUE_FISSURE_ANTERIOR_T - slope * (u - OBLIQUE_FISSURE_ANTERIOR_U)
    lower = t_arr > fissure_t
    if side == LEFT:
        return np.where(lower, 4, 3).astype(np.int8)
    middle = ~lower & (t_arr > HORIZONTAL_FISSURE_T)
    return np.where(lower, 2, np.where(middle, 1, 0)).astype(np.int8)


def severity_score(percent: float) -> int:
    """Pan et al.'s 0-5 score of one lobe (or zone) from its % involved (0 only when nothing is involved)."""
    if percent <= 0.0:
        return 0
    for score, upper in enumerate(SEVERITY_SCORE_UPPER_PERCENT, start=1):
        if percent < upper if score == 1 else percent <= upper:
            return score
    return SEVERITY_SCORE_MAX_PER_REGION
