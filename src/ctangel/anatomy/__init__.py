"""Anatomy of a study: the right and left lung told apart in 3-D, lobes (estimated) or zones, and the CT
severity score (Pan et al., Radiology 2020), from the per-slice lung and lesion masks the pipeline makes.

>>> collector = AnatomyCollector("lobes", is_volume=True)
>>> for i, f in enumerate(findings):             # SliceFindings, display orientation
...     collector.add(i, f.lung_mask, f.lesion_mask)
>>> anatomy = collector.finish(study.voxel_volume_ml)
>>> anatomy.severity_score, anatomy.to_dict()["regions"]
"""

from __future__ import annotations

from ctangel.anatomy.regions import DEFAULT_REGION_METHOD, REGION_METHODS, Region, RegionMethod, severity_score
from ctangel.anatomy.study import AnatomyCollector, RegionFigures, StudyAnatomy

__all__ = [
    "DEFAULT_REGION_METHOD",
    "REGION_METHODS",
    "AnatomyCollector",
    "Region",
    "RegionFigures",
    "RegionMethod",
    "StudyAnatomy",
    "severity_score",
]
