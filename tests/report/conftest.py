"""Drive an OutputWriter the way the pipeline does, from tiny stored slices and lesion masks made by hand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy import ndimage as ndi

from ctangel.errors import InputError
from ctangel.inference.pipeline import SliceFindings
from ctangel.inference.postprocess import LesionBox
from ctangel.inference.results import AnalysisResult, PatientResult, SliceResult, StudyResult
from ctangel.io.study import DisplayTransform, Study
from ctangel.preprocessing import Window
from ctangel.report import OutputWriter

RULE = ">= 2 positive slices (all slices when fewer) and >= 300 lesion px at 512x512 on them in all"
MODELS = {
    "lung": {"name": "lung-test", "sha256": "ab" * 32, "backend": "onnx"},
    "lesion": {"name": "lesion-test", "sha256": "cd" * 32, "backend": "onnx"},
}
SETTINGS = {
    "window_width": 1200.0,
    "window_level": -700.0,
    "lesion_threshold": 0.5,
    "min_lesion_area_px_at_512": 25,
}


class Driver:
    """Feeds studies to ``writer`` as :class:`~ctangel.inference.Pipeline` would.

    Slices and lesion masks are given in the STORED orientation; the driver shows them to the writer in
    display orientation, with boxes in display pixels (findings) and stored pixels (results), as the pipeline
    does.
    """

    def __init__(self, writer: OutputWriter) -> None:
        self.writer = writer
        self.studies: list[StudyResult] = []
        self.errors: list[InputError] = []

    def study(
        self,
        stored: Sequence[npt.NDArray[np.generic]],
        lesions: Sequence[npt.NDArray[np.bool_]],
        sources: Sequence[str],
        display: DisplayTransform | None = None,
        kind: str = "uint8",
        is_volume: bool = False,
        patient_id: str = "p1",
        series_id: str = "s1",
    ) -> StudyResult:
        """Run one study through the writer; returns its result (with ``outputs`` filled in)."""
        display = display or DisplayTransform()
        shown = [display.apply(s) for s in stored]
        study = Study(
            patient_id=patient_id,
            study_id=series_id,
            series_id=series_id,
            input=str(Path(sources[0]).parent),
            kind=kind,  # type: ignore[arg-type]
            sources=list(sources),
            loader=lambda i: shown[i],  # type: ignore[arg-type,return-value]
            display=display,
            is_volume=is_volume,
            pixel_spacing_mm=(0.7, 0.7),
            slice_spacing_mm=5.0 if is_volume else None,
        )
        return self.run(study, [display.apply(m).astype(bool) for m in lesions])

    def run(self, study: Study, lesions: Sequence[npt.NDArray[np.bool_]]) -> StudyResult:
        """Run ``study`` through the writer with these lesion masks (display orientation), as the pipeline
        would; returns the study's result (with ``outputs`` filled in)."""
        self.writer.start_study(study)
        results = [self.add(study, i, lesion) for i, lesion in enumerate(lesions)]
        study_result = StudyResult(
            patient_id=study.patient_id,
            study_id=study.study_id,
            series_id=study.series_id,
            input=study.input,
            kind=study.kind,
            positive=any(r.positive for r in results),
            slices=results,
            pixel_area_mm2=study.pixel_area_mm2,
            voxel_volume_ml=study.voxel_volume_ml,
        )
        self.writer.finish_study(study, study_result)
        self.studies.append(study_result)
        return study_result

    def add(self, study: Study, i: int, lesion: npt.NDArray[np.bool_]) -> SliceResult:
        """Hand slice ``i`` of ``study`` to the writer with this lesion mask (display orientation)."""
        pixels = study.read(i)
        findings = make_findings(lesion)
        shape = (pixels.shape[0], pixels.shape[1])
        result = SliceResult(
            index=i,
            source=study.sources[i],
            shape=shape[::-1] if study.display.transpose else shape,
            positive=findings.positive,
            lesion_probability=findings.lesion_probability,
            lesion_area_px=int(findings.lesion_mask.sum()),
            lung_area_px=int(findings.lung_mask.sum()),
            lung_box=None,
            boxes=[LesionBox(study.display.box_to_stored(b.box, shape), b.area_px, b.score) for b in findings.lesions],
        )
        self.writer.add_slice(study, result, pixels, findings)
        return result

    def fail(self, path: str, problem: str) -> None:
        """An input that could not be analysed."""
        error = InputError(path, problem)
        self.errors.append(error)
        self.writer.fail_input(error)

    def finish(self) -> AnalysisResult:
        """End the run: group the studies by patient and hand the result to the writer."""
        by_patient: dict[str, list[StudyResult]] = {}
        for s in self.studies:
            by_patient.setdefault(s.patient_id, []).append(s)
        result = AnalysisResult(
            version="0.1.0",
            models=MODELS,
            settings=SETTINGS,
            patients=[PatientResult(pid, any(s.positive for s in sts), RULE, sts) for pid, sts in by_patient.items()],
            errors=[{"input": e.path, "error": e.problem} for e in self.errors],
        )
        self.writer.finish(result)
        return result


def make_findings(lesion: npt.NDArray[np.bool_], probability: float = 0.9) -> SliceFindings:
    """Findings whose lesions are the 8-connected components of ``lesion`` (display orientation)."""
    labels, _ = ndi.label(lesion, structure=np.ones((3, 3), dtype=bool))
    lesions = [
        LesionBox(
            (float(sl[1].start), float(sl[0].start), float(sl[1].stop), float(sl[0].stop)),
            int((labels[sl] == k).sum()),
            probability,
        )
        for k, sl in enumerate(ndi.find_objects(labels), start=1)
        if sl is not None
    ]
    rows, cols = lesion.shape
    return SliceFindings(
        lung_mask=np.ones(lesion.shape, dtype=bool),
        lung_box=(0.0, 0.0, float(cols), float(rows)),
        region=(0.0, 0.0, float(cols), float(rows)),
        probability=None,
        lesion_probability=probability if lesions else 0.1,
        lesions=lesions,
        lesion_mask=lesion.copy(),
    )


@pytest.fixture
def make_driver(tmp_path: Path) -> Callable[..., Driver]:
    """``make_driver(**kwargs)``: a Driver over ``OutputWriter(tmp_path / "out", Window(), **kwargs)``."""

    def make(**kwargs: Any) -> Driver:
        return Driver(OutputWriter(tmp_path / "out", Window(), **kwargs))

    return make
