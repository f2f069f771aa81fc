from __future__ import annotations

from ctangel.inference.decisions import PatientRule, slice_is_positive
from ctangel.inference.postprocess import LesionBox
from ctangel.inference.results import SliceResult


def sl(i: int, area: int, shape: tuple[int, int] = (512, 512)) -> SliceResult:
    boxes = [LesionBox((0, 0, 10, 10), area, 0.9)] if area else []
    return SliceResult(i, f"s{i}", shape, bool(area), 0.9 if area else 0.1, area, 1000, (0, 0, 100, 100), boxes)


def test_image_call() -> None:
    assert slice_is_positive(1) and not slice_is_positive(0)


def test_patient_rule_counts_slices_and_area() -> None:
    rule = PatientRule(min_positive_slices=2, min_lesion_area_px_at_512=300)
    assert rule([sl(0, 200), sl(1, 150), sl(2, 0)])  # 2 slices, 350 px
    assert not rule([sl(0, 200), sl(1, 0), sl(2, 0)])  # 1 slice
    assert not rule([sl(0, 100), sl(1, 100)])  # 200 px
    assert not rule([])


def test_patient_rule_with_fewer_slices_than_needed_and_area_at_512() -> None:
    rule = PatientRule(min_positive_slices=2, min_lesion_area_px_at_512=300)
    assert rule([sl(0, 400)])  # a single image: all its slices (1) are positive
    # 100 px on a 256x256 image is 400 px at 512x512
    assert rule([sl(0, 100, (256, 256))])
    assert ">= 2 positive slices" in rule.describe() and ">= 300 lesion px" in rule.describe()
    assert "lesion px" not in PatientRule(min_positive_slices=8, min_lesion_area_px_at_512=0).describe()
