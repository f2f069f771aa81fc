"""A result sink that keeps each slice's lesion mask: for evaluation and pseudo-labelling."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ctangel._types import Box
from ctangel.errors import InputError
from ctangel.inference.pipeline import SliceFindings
from ctangel.inference.results import AnalysisResult, SliceResult, StudyResult
from ctangel.io.study import SlicePixels, Study


class MaskCollector:
    """Keeps, per slice source, the kept-lesion mask (stored orientation) and the valid region (display).

    Memory grows with the slices seen: use it on sets of single images, not on long series.
    """

    def __init__(self) -> None:
        self.masks: dict[str, npt.NDArray[np.bool_]] = {}
        self.regions: dict[str, Box | None] = {}
        self.errors: list[InputError] = []

    def start_study(self, study: Study) -> None:
        """Nothing to do."""

    def add_slice(self, study: Study, result: SliceResult, pixels: SlicePixels, findings: SliceFindings) -> None:
        """Keep the slice's mask and region."""
        self.masks[result.source] = np.asarray(study.display.invert(findings.lesion_mask), dtype=bool)
        self.regions[result.source] = findings.region

    def finish_study(self, study: Study, result: StudyResult) -> None:
        """Nothing to do."""

    def fail_input(self, error: InputError) -> None:
        """Remember the error."""
        self.errors.append(error)

    def finish(self, result: AnalysisResult) -> None:
        """Nothing to do."""
