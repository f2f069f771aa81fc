"""What an analysis finds, per slice, study and patient: the objects results.json is written from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ctangel._types import Box
from ctangel.inference.postprocess import LesionBox


def _box(b: Box | None) -> list[float] | None:
    return None if b is None else [round(float(v), 2) for v in b]


@dataclass
class SliceResult:
    """One slice's findings. Boxes are in the stored image's pixels, edges (``x1`` one past the last column).

    Args:
        index: position in the study, head to feet for volumes.
        source: the file path as given, or ``PATH#k`` for slice ``k`` of a volume file.
        shape: ``(rows, cols)`` of the slice.
        positive: whether at least one lesion box was kept.
        lesion_probability: the highest lesion probability inside the valid region, 0..1.
        lesion_area_px: pixels in the kept lesions.
        lung_area_px: pixels of the lung mask.
        lung_box: the valid region's box before its margin (the smallest box holding the lungs), or None.
        boxes: the kept lesions, largest first.
    """

    index: int
    source: str
    shape: tuple[int, int]
    positive: bool
    lesion_probability: float
    lesion_area_px: int
    lung_area_px: int
    lung_box: Box | None
    boxes: list[LesionBox] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The slice's entry in results.json."""
        return {
            "index": self.index,
            "source": self.source,
            "positive": self.positive,
            "lesion_probability": round(float(self.lesion_probability), 4),
            "lesion_area_px": int(self.lesion_area_px),
            "lung_area_px": int(self.lung_area_px),
            "lung_box": _box(self.lung_box),
            "boxes": [
                {"box": _box(b.box), "area_px": int(b.area_px), "score": round(float(b.score), 4)} for b in self.boxes
            ],
            "rows": self.shape[0],
            "cols": self.shape[1],
        }


@dataclass
class StudyResult:
    """One study's findings.

    Args:
        patient_id: the patient the study belongs to.
        study_id: study identifier.
        series_id: series identifier.
        input: the path the study was read from.
        kind: ``"hu"`` or ``"uint8"``.
        positive: the study's call (the patient rule applied to this study alone).
        slices: one entry per input slice.
        description: modality, series description, scanner.
        pixel_area_mm2: area of one pixel, when known.
        voxel_volume_ml: volume of one voxel, when known.
        outputs: files written for this study (overlays, montage, masks), relative to the output folder.
        anatomy: per lung and per lobe (or zone) figures and the severity score
            (:meth:`ctangel.anatomy.StudyAnatomy.to_dict`), when the writer made them.
    """

    patient_id: str
    study_id: str
    series_id: str
    input: str
    kind: str
    positive: bool
    slices: list[SliceResult]
    description: str = ""
    pixel_area_mm2: float | None = None
    voxel_volume_ml: float | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    anatomy: dict[str, Any] | None = None

    @property
    def n_positive_slices(self) -> int:
        """Slices called positive."""
        return sum(s.positive for s in self.slices)

    @property
    def lesion_area_px(self) -> int:
        """Lesion pixels over all slices."""
        return sum(s.lesion_area_px for s in self.slices)

    @property
    def lung_area_px(self) -> int:
        """Lung pixels over all slices."""
        return sum(s.lung_area_px for s in self.slices)

    @property
    def lung_involvement_percent(self) -> float | None:
        """Lesion pixels as a share of lung pixels, over the study, in percent (None with no lung)."""
        lung = self.lung_area_px
        return None if lung == 0 else 100.0 * self.lesion_area_px / lung

    def to_dict(self) -> dict[str, Any]:
        """The study's entry in results.json."""
        vox = self.voxel_volume_ml
        involvement = self.lung_involvement_percent
        return {
            "study_id": self.study_id,
            "series_id": self.series_id,
            "input": self.input,
            "kind": self.kind,
            "description": self.description,
            "n_slices": len(self.slices),
            "positive": self.positive,
            "n_positive_slices": self.n_positive_slices,
            "max_lesion_probability": round(max((s.lesion_probability for s in self.slices), default=0.0), 4),
            "lesion_area_px": self.lesion_area_px,
            "lung_area_px": self.lung_area_px,
            "lung_involvement_percent": None if involvement is None else round(involvement, 3),
            "lesion_volume_ml": None if vox is None else round(self.lesion_area_px * vox, 2),
            "lung_volume_ml": None if vox is None else round(self.lung_area_px * vox, 2),
            "outputs": self.outputs,
            "anatomy": self.anatomy,
            "slices": [s.to_dict() for s in self.slices],
        }


@dataclass
class PatientResult:
    """One patient's call over all their studies.

    Args:
        patient_id: the patient.
        positive: the patient rule's answer.
        rule: the rule, in words, with its numbers.
        studies: the patient's studies.
    """

    patient_id: str
    positive: bool
    rule: str
    studies: list[StudyResult]

    def to_dict(self) -> dict[str, Any]:
        """The patient's entry in results.json."""
        return {
            "patient_id": self.patient_id,
            "positive": self.positive,
            "rule": self.rule,
            "n_studies": len(self.studies),
            "studies": [s.to_dict() for s in self.studies],
        }


@dataclass
class AnalysisResult:
    """A whole run: every patient, the models and settings used, and the inputs that failed.

    Args:
        version: ctangel's version.
        models: ``{"lung": {...}, "lesion": {...}}`` as the registry describes them.
        settings: the analysis settings.
        patients: per patient, in the order first seen.
        errors: ``{"input": path, "error": message}`` for each input that could not be analysed.
        timings: wall seconds per stage (read, lung, lesion, postprocess, write); results.json's
            ``timings_s`` is written before the last of the writing (the report itself) is done.
    """

    version: str
    models: dict[str, Any]
    settings: dict[str, Any]
    patients: list[PatientResult]
    errors: list[dict[str, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The results.json document."""
        return {
            "ctangel_version": self.version,
            "models": self.models,
            "settings": self.settings,
            "patients": [p.to_dict() for p in self.patients],
            "errors": self.errors,
            "timings_s": self.timings,
        }
