"""The calls: a slice is positive when it keeps a lesion box; a patient (or study) by a rule over slices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ctangel.constants import REFERENCE_SIDE_PX
from ctangel.inference.results import SliceResult
from ctangel.preprocessing import reference_scale


@dataclass(frozen=True)
class PatientRule:
    """Positive when at least ``min_positive_slices`` slices are positive (all of them when there are fewer)
    and the lesions on the positive slices hold at least ``min_lesion_area_px_at_512`` pixels in all,
    each slice's area counted at 512x512.

    Args:
        min_positive_slices: positive slices needed.
        min_lesion_area_px_at_512: total lesion area needed, pixels at 512x512.
    """

    min_positive_slices: int
    min_lesion_area_px_at_512: float

    def describe(self) -> str:
        """The rule in words, with its numbers (results.json's ``rule``)."""
        text = f">= {self.min_positive_slices} positive slices (all slices when fewer)"
        if self.min_lesion_area_px_at_512 > 0:
            text += f" and >= {self.min_lesion_area_px_at_512:g} lesion px at 512x512 on them in all"
        return text

    def __call__(self, slices: Sequence[SliceResult]) -> bool:
        """Apply the rule to a patient's (or a study's) slices."""
        if not slices:
            return False
        positives = [s for s in slices if s.positive]
        needed = min(self.min_positive_slices, len(slices))
        area = sum(s.lesion_area_px / reference_scale(s.shape, REFERENCE_SIDE_PX) for s in positives)
        return len(positives) >= needed and area >= self.min_lesion_area_px_at_512


def slice_is_positive(n_boxes: int) -> bool:
    """CT-Angel's image call: positive when at least one lesion box is kept."""
    return n_boxes > 0
