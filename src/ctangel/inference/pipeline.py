"""The two-stage pipeline: the one object the CLI, the web service and the Python API all call.

>>> from ctangel.inference import Pipeline
>>> pipeline = Pipeline()                     # loads both models once
>>> result = pipeline.analyze(["study/"])     # an AnalysisResult; result.to_dict() is results.json
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ctangel import __version__
from ctangel._types import BoolMask, Box, FloatImage
from ctangel.anatomy.lungs import PackedVolume, slabs
from ctangel.errors import CtangelError, InputError
from ctangel.inference.decisions import PatientRule, slice_is_positive
from ctangel.inference.lung3d import clean_lung_cells, drop_air_components
from ctangel.inference.postprocess import (
    LesionBox,
    find_lesions,
    lesion_zone,
    max_in_mask,
    max_in_region,
    valid_region,
)
from ctangel.inference.results import AnalysisResult, PatientResult, SliceResult, StudyResult
from ctangel.inference.settings import AnalysisSettings
from ctangel.inference.spill import GridFile, SliceFile
from ctangel.inference.stages import LesionStage, LungResult, LungStage, SliceInput, is_turned
from ctangel.inference.timing import Timings
from ctangel.io.discover import discover
from ctangel.io.study import SlicePixels, Study
from ctangel.log import logger
from ctangel.models.registry import LoadedModel, load_model
from ctangel.preprocessing import SquareCrop

#: Slices read and analysed together; bounds memory whatever the study's length.
CHUNK_SLICES = 16
#: Lung probabilities of a whole series are kept on the lung model's grid as 8-bit values (0..255).
_PROB_LEVELS = 255


@dataclass
class SliceFindings:
    """One slice's findings in display orientation, before they are turned into a :class:`SliceResult`.

    Args:
        lung_mask: lung pixels.
        lung_box: the smallest box holding the lung, or None.
        region: the valid region (lung box grown by the margin), or None.
        probability: lesion probability map (None when the slice has no lung).
        lesion_probability: the highest lesion probability in the valid region.
        lesions: the kept lesions.
        lesion_mask: their pixels.
    """

    lung_mask: BoolMask
    lung_box: Box | None
    region: Box | None
    probability: FloatImage | None
    lesion_probability: float
    lesions: list[LesionBox]
    lesion_mask: BoolMask

    @property
    def positive(self) -> bool:
        """CT-Angel's image call."""
        return slice_is_positive(len(self.lesions))


class SeriesLungs:
    """A series' lung masks, kept on the lung model's grid (in a temporary file) and expanded to a slice's
    pixels when asked for; and the series' decoded slices, so that the second pass does not decode them again.

    Args:
        stage: the lung stage (expands a grid probability to a slice's mask and box).
        shapes: each slice's shape.
        crops: each slice's crop onto the grid.
        probs: each slice's lung probability on the grid, 0..255, already cleaned in 3-D.
        pixels: the decoded slices.
    """

    def __init__(
        self,
        stage: LungStage,
        shapes: list[tuple[int, int]],
        crops: list[SquareCrop],
        probs: GridFile,
        pixels: SliceFile,
    ) -> None:
        self.stage, self.shapes, self.crops, self.probs, self.pixels = stage, shapes, crops, probs, pixels

    def __len__(self) -> int:
        return len(self.shapes)

    def __getitem__(self, index: int) -> LungResult:
        prob = self.probs.read(slice(index, index + 1))[0].astype(np.float32) / np.float32(_PROB_LEVELS)
        return self.stage.expand(self.shapes[index], self.crops[index], prob)

    def close(self) -> None:
        """Delete the temporary files."""
        self.probs.close()
        self.pixels.close()


class ResultSink(Protocol):
    """Receives the pipeline's output as it is made (report writers, the service's job store)."""

    def start_study(self, study: Study) -> None:
        """A study is about to be analysed."""

    def add_slice(self, study: Study, result: SliceResult, pixels: SlicePixels, findings: SliceFindings) -> None:
        """One slice is done; ``pixels`` and ``findings`` are in display orientation."""

    def finish_study(self, study: Study, result: StudyResult) -> None:
        """A study is done."""

    def fail_input(self, error: InputError) -> None:
        """An input could not be analysed."""

    def finish(self, result: AnalysisResult) -> None:
        """The run is done."""


#: Called with the number of slices just finished.
Progress = Callable[[int], None]


class Pipeline:
    """Lung region, then lesions, then the calls: CT-Angel's method on any CT input.

    Args:
        settings: every choice of the analysis; CT-Angel's values by default.
        lung_model: an already loaded lung model (default: ``settings.lung_model``, loaded here).
        lesion_model: an already loaded lesion model (default: ``settings.lesion_model``, loaded here).
    """

    def __init__(
        self,
        settings: AnalysisSettings | None = None,
        lung_model: LoadedModel | None = None,
        lesion_model: LoadedModel | None = None,
    ) -> None:
        self.settings = settings or AnalysisSettings()
        s = self.settings
        self.lung_model = lung_model or load_model(s.lung_model, "lung", s.backend, s.threads)
        self.lesion_model = lesion_model or load_model(s.lesion_model, "lesion", s.backend, s.threads)
        self.lung_stage = LungStage(self.lung_model, s)
        self.lesion_stage = LesionStage(self.lesion_model, s)
        self.rule = PatientRule(s.patient_min_positive_slices, s.patient_min_lesion_area_px_at_512)
        self.timings = Timings()

    def describe_models(self) -> dict[str, object]:
        """The ``models`` entry of results.json."""
        return {"lung": self.lung_model.describe(), "lesion": self.lesion_model.describe()}

    def analyze_slices(
        self,
        slices: Sequence[SliceInput],
        lungs: Sequence[LungResult] | None = None,
        pixel_spacing_mm: float | None = None,
    ) -> list[SliceFindings]:
        """Both stages and the post-processing on slices in display orientation.

        Args:
            slices: the slices and what their pixels are.
            lungs: their lung masks when already made (the series' 3-D mask); else the lung stage runs here.
            pixel_spacing_mm: the slices' pixel spacing, when known (sets the lesion margin around the lung).
        """
        lungs, probs = self._run_models(slices, lungs)
        return self._findings(slices, lungs, probs, pixel_spacing_mm)

    def _run_models(
        self, slices: Sequence[SliceInput], lungs: Sequence[LungResult] | None
    ) -> tuple[Sequence[LungResult], list[FloatImage | None]]:
        """The lung stage (unless ``lungs`` are given) and the lesion stage's probability maps."""
        if lungs is None:
            with self.timings.stage("lung"):
                lungs = self.lung_stage(slices)
        with self.timings.stage("lesion"):
            turned = [
                self.settings.auto_orient and kind == "uint8" and is_turned(r.mask, self.settings.turned_dip_margin)
                for (_, kind), r in zip(slices, lungs, strict=True)
            ]
            probs = self.lesion_stage(slices, [r.box for r in lungs], turned)
        return lungs, probs

    def _findings(
        self,
        slices: Sequence[SliceInput],
        lungs: Sequence[LungResult],
        probs: Sequence[FloatImage | None],
        pixel_spacing_mm: float | None,
    ) -> list[SliceFindings]:
        """Lesions, masks and the highest probability of each slice, from its lung and lesion maps."""
        out = []
        s = self.settings
        with self.timings.stage("postprocess"):
            for (pixels, _), lung, prob in zip(slices, lungs, probs, strict=True):
                shape: tuple[int, int] = pixels.shape
                scaled = s.scaled_to(shape, pixel_spacing_mm)
                region = valid_region(lung.box, scaled.valid_region_margin_px, shape)
                lesions: list[LesionBox] = []
                if prob is None:
                    lesion_mask, top = np.zeros(shape, dtype=bool), 0.0
                elif s.lesion_lung_margin_mm > 0:
                    allowed = lesion_zone(lung.mask, scaled.lesion_lung_margin_px)
                    lesions, lesion_mask = find_lesions(
                        prob, region, s.lesion_threshold, scaled.min_lesion_area_px, allowed
                    )
                    top = max_in_mask(prob, allowed)
                else:
                    lesions, lesion_mask = find_lesions(prob, region, s.lesion_threshold, scaled.min_lesion_area_px)
                    top = max_in_region(prob, region)
                out.append(SliceFindings(lung.mask, lung.box, region, prob, top, lesions, lesion_mask))
        return out

    def series_lungs(self, study: Study) -> SeriesLungs | None:
        """The series' lung masks made consistent in 3-D (see :mod:`ctangel.inference.lung3d`), or None when
        ``study`` is not a volume (8-bit images, a single slice) or the setting is off.

        Reads every slice once; keeps the lung stage's grid (8 bits a cell) in a temporary file and a bit per
        cell in memory, so the memory does not grow with the series' length.
        """
        s = self.settings
        if not s.lung_3d or study.kind != "hu" or len(study) < 2:
            return None
        shapes: list[tuple[int, int]] = []
        crops: list[SquareCrop] = []
        side = self.lung_model.checkpoint.input.side
        level = int(s.lung_threshold * _PROB_LEVELS)
        store, decoded = GridFile(side), SliceFile()
        cells = PackedVolume((len(study), side, side))
        for indices, pixels in self._read_ahead(study):
            with self.timings.stage("read"):
                for i, p in zip(indices, pixels, strict=True):
                    decoded.put(i, p)
            with self.timings.stage("lung"):
                on_grid = self.lung_stage.grid([(p, study.kind) for p in pixels])
                chunk = np.empty((len(indices), side, side), dtype=np.uint8)
                for k, (p, (crop, prob)) in enumerate(zip(pixels, on_grid, strict=True)):
                    lung = prob > s.lung_threshold
                    drop_air_components(lung, crop.sample(np.asarray(p, dtype=np.float32)), s.air_component_median_hu)
                    shapes.append(p.shape)
                    crops.append(crop)
                    chunk[k] = np.round(np.clip(prob, 0, 1) * lung * _PROB_LEVELS)
                    store.append(chunk[k])
                cells[slice(indices.start, indices.stop)] = chunk > level
        with self.timings.stage("lung"):
            kept = clean_lung_cells(cells, s.min_lung_volume_fraction, s.min_slice_lung_fraction)
            for slab in slabs(len(kept)):
                probs, clean = store.read(slab), kept[slab]
                # removed parts to 0, filled holes to 255; the rest keeps its probability (smooth edges when expanded)
                store.write(slab, np.where(clean, np.where(probs > level, probs, _PROB_LEVELS), 0).astype(np.uint8))
        return SeriesLungs(self.lung_stage, shapes, crops, store, decoded)

    @staticmethod
    def _read(study: Study, indices: range, decoded: SliceFile | None) -> list[SlicePixels]:
        return [decoded.get(i) if decoded is not None and i in decoded else study.read(i) for i in indices]

    def _read_ahead(self, study: Study, decoded: SliceFile | None = None) -> Iterator[tuple[range, list[SlicePixels]]]:
        """The study's slices a chunk at a time (from ``decoded`` when they are there); the next chunk is read in
        a thread while one is analysed."""
        chunks = [range(s, min(s + CHUNK_SLICES, len(study))) for s in range(0, len(study), CHUNK_SLICES)]
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ctangel-read") as reader:
            ahead = reader.submit(self._read, study, chunks[0], decoded) if chunks else None
            for k, indices in enumerate(chunks):
                with self.timings.stage("read"):
                    pixels = ahead.result() if ahead is not None else []
                ahead = reader.submit(self._read, study, chunks[k + 1], decoded) if k + 1 < len(chunks) else None
                yield indices, pixels

    def analyze_study(
        self, study: Study, sink: ResultSink | None = None, progress: Progress | None = None
    ) -> StudyResult:
        """Analyse every slice of ``study``, a chunk at a time; the next chunk is read while one is analysed.

        Raises:
            InputError: a slice cannot be read (the study is abandoned; what the sink wrote stays).
        """
        if sink is not None:
            with self.timings.stage("write"):
                sink.start_study(study)
        lungs = self.series_lungs(study)
        spacing = None if study.pixel_area_mm2 is None else float(np.sqrt(study.pixel_area_mm2))
        results: list[SliceResult] = []

        def finish_chunk(
            indices: range, pixels: list[SlicePixels], lungs_: Sequence[LungResult], probs: list[FloatImage | None]
        ) -> None:
            findings = self._findings([(p, study.kind) for p in pixels], lungs_, probs, spacing)
            for i, p, f in zip(indices, pixels, findings, strict=True):
                result = self._slice_result(study, i, p, f)
                results.append(result)
                if sink is not None:
                    with self.timings.stage("write"):
                        sink.add_slice(study, result, p, f)
            if progress is not None:
                progress(len(indices))

        # A chunk's post-processing and writing run in a thread while the models run on the next chunk (the
        # models' threads wait for each other at every operator, which leaves the cores room); at most one chunk
        # waits to be finished, so memory stays bounded, and the sink sees slices in order, from one thread.
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ctangel-finish") as finisher:
                pending: Future[None] | None = None
                for indices, pixels in self._read_ahead(study, None if lungs is None else lungs.pixels):
                    with self.timings.stage("lung"):
                        expanded = None if lungs is None else [lungs[i] for i in indices]
                    chunk_lungs, probs = self._run_models([(p, study.kind) for p in pixels], expanded)
                    if pending is not None:
                        pending.result()
                    pending = finisher.submit(finish_chunk, indices, pixels, chunk_lungs, probs)
                if pending is not None:
                    pending.result()
        finally:
            if lungs is not None:
                lungs.close()
        study_result = StudyResult(
            patient_id=study.patient_id,
            study_id=study.study_id,
            series_id=study.series_id,
            input=study.input,
            kind=study.kind,
            positive=self.rule(results),
            slices=results,
            description=study.description,
            pixel_area_mm2=study.pixel_area_mm2,
            voxel_volume_ml=study.voxel_volume_ml,
        )
        if sink is not None:
            with self.timings.stage("write"):
                sink.finish_study(study, study_result)
        return study_result

    @staticmethod
    def _slice_result(study: Study, index: int, pixels: SlicePixels, f: SliceFindings) -> SliceResult:
        shape: tuple[int, int] = pixels.shape
        stored_shape = shape[::-1] if study.display.transpose else shape
        to_stored = study.display.box_to_stored
        return SliceResult(
            index=index,
            source=study.sources[index],
            shape=stored_shape,
            positive=f.positive,
            lesion_probability=f.lesion_probability,
            lesion_area_px=int(f.lesion_mask.sum()),
            lung_area_px=int(f.lung_mask.sum()),
            lung_box=None if f.lung_box is None else to_stored(f.lung_box, shape),
            boxes=[LesionBox(to_stored(b.box, shape), b.area_px, b.score) for b in f.lesions],
        )

    def analyze(
        self,
        paths: Iterable[str | Path],
        sink: ResultSink | None = None,
        progress: Progress | None = None,
        on_total: Callable[[int], None] | None = None,
    ) -> AnalysisResult:
        """Analyse every study found under ``paths`` (files, folders, folder trees) and make the patient calls.

        A bad input is recorded in ``errors`` (and passed to ``sink.fail_input``); the others go on.

        Args:
            paths: files and folders, as the user gave them.
            sink: receives slices and studies as they are done.
            progress: called with the number of slices finished, as they finish.
            on_total: called once with the total number of slices, before the work starts.
        """
        return self.analyze_studies(discover(list(paths)), sink, progress, on_total)

    def analyze_studies(
        self,
        studies: Iterable[Study | InputError],
        sink: ResultSink | None = None,
        progress: Progress | None = None,
        on_total: Callable[[int], None] | None = None,
    ) -> AnalysisResult:
        """Analyse studies already read (as :func:`ctangel.io.discover` yields them, input errors included).

        Args:
            studies: the studies, and the inputs that could not be read (recorded in ``errors``).
            sink: receives slices and studies as they are done.
            progress: called with the number of slices finished, as they finish.
            on_total: called once with the total number of slices, before the work starts.
        """
        self.timings.reset()
        found = list(studies)
        readable = [s for s in found if isinstance(s, Study)]
        errors = [e for e in found if isinstance(e, InputError)]
        for err in errors:
            logger.error("%s", err)
            if sink is not None:
                sink.fail_input(err)
        if on_total is not None:
            on_total(sum(len(s) for s in readable))
        by_patient: dict[str, list[StudyResult]] = {}
        for study in readable:
            try:
                result = self.analyze_study(study, sink, progress)
            except CtangelError as exc:
                err = exc if isinstance(exc, InputError) else InputError(study.input, str(exc))
                logger.error("%s", err)
                errors.append(err)
                if sink is not None:
                    sink.fail_input(err)
                continue
            by_patient.setdefault(study.patient_id, []).append(result)
        patients = [
            PatientResult(pid, self.rule([s for st in sts for s in st.slices]), self.rule.describe(), sts)
            for pid, sts in by_patient.items()
        ]
        analysis = AnalysisResult(
            version=__version__,
            models=self.describe_models(),
            settings=self.settings.to_dict(),
            patients=patients,
            errors=[{"input": e.path, "error": e.problem} for e in errors],
        )
        analysis.timings = self.timings.to_dict()
        if sink is not None:
            with self.timings.stage("write"):
                sink.finish(analysis)
            analysis.timings = self.timings.to_dict()
        return analysis
