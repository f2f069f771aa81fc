"""The two-stage pipeline (lung region, then lesions), its post-processing and decision rules."""

from __future__ import annotations

from ctangel.inference.pipeline import Pipeline, ResultSink, SliceFindings
from ctangel.inference.results import AnalysisResult, PatientResult, SliceResult, StudyResult
from ctangel.inference.settings import AnalysisSettings

__all__ = [
    "AnalysisResult",
    "AnalysisSettings",
    "PatientResult",
    "Pipeline",
    "ResultSink",
    "SliceFindings",
    "SliceResult",
    "StudyResult",
]
