"""The output writer: overlays, montages, masks, results.json and report.html, written as the pipeline goes.

Layout under the output folder::

    results.json                        the run (AnalysisResult.to_dict()), written at the end
    results.partial.jsonl               one line per finished study or failed input, while the run goes on
    report.html                         the self-contained report
    studies/<study>/montage.png         every slice (negatives sampled in long studies), positives framed red
    studies/<study>/overlays/<i>_<stem>.png   one per positive (or labelled, or every) slice
    masks/<study>/<stem>.png            --masks, image inputs: 0/255, the input image's size and orientation
    masks/<study>.nii.gz                --masks, volume inputs: one NIfTI aligned to the input volume
    summary.csv                         one row per patient and study (call, volumes, % involved, scores)
    studies/<study>/lesion_profile.svg  lesion area per slice, head to feet (per lung for volumes)
    studies/<study>/regions.svg         volumes: % involved and score per lobe (or zone)
    dicom_seg/<study>.dcm               --dicom-seg, DICOM series: lesion and lung segments per lobe (or zone)

``<study>`` is made from the patient id and (when it differs) the series id: only ``A-Z a-z 0-9 . _ -``,
at most 64 characters (a shortened one ends with a hash), unique in the run (``-2``, ``-3`` ... added).
File stems are made safe the same way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

import numpy as np
import numpy.typing as npt
from PIL import Image

from ctangel.anatomy import DEFAULT_REGION_METHOD, AnatomyCollector, RegionMethod
from ctangel.constants import MASK_BACKGROUND, MASK_FOREGROUND
from ctangel.errors import ConfigError, InputError, OutputError
from ctangel.log import logger
from ctangel.preprocessing import Window, to_unit_range
from ctangel.report._draw import to_uint8
from ctangel.report.background import BackgroundWriter
from ctangel.report.charts import lesion_profile_svg, regions_svg
from ctangel.report.files import atomic_text
from ctangel.report.html import write_html_report
from ctangel.report.labels import LabelIndex
from ctangel.report.montage import Montage
from ctangel.report.names import UniqueNames, safe_name
from ctangel.report.overlay import draw_overlay
from ctangel.report.summary import SUMMARY_NAME, write_summary_csv

if TYPE_CHECKING:
    from ctangel._types import BoolMask
    from ctangel.inference.pipeline import SliceFindings
    from ctangel.inference.results import AnalysisResult, SliceResult, StudyResult
    from ctangel.io.study import SlicePixels, Study

#: Which slices get an overlay image: positive (or labelled with lesion) ones, every one, or none.
OverlayChoice = Literal["positive", "all", "none"]
OVERLAY_CHOICES: Final[tuple[str, ...]] = get_args(OverlayChoice)

RESULTS_NAME: Final = "results.json"
PARTIAL_RESULTS_NAME: Final = "results.partial.jsonl"
REPORT_NAME: Final = "report.html"
STUDIES_DIR: Final = "studies"
OVERLAYS_DIR: Final = "overlays"
MASKS_DIR: Final = "masks"
MONTAGE_NAME: Final = "montage.png"
DICOM_SEG_DIR: Final = "dicom_seg"
PROFILE_CHART_NAME: Final = "lesion_profile.svg"
REGIONS_CHART_NAME: Final = "regions.svg"
NIFTI_SUFFIX: Final = ".nii.gz"
PNG_SUFFIX: Final = ".png"
#: Digits of the slice index at the start of an overlay's file name (more when a study is longer).
INDEX_DIGITS: Final = 4
#: Characters of a source's file name shown in an overlay's caption.
CAPTION_SOURCE_CHARS: Final = 60
JSON_INDENT: Final = 2
#: zlib level of the PNGs written (overlays, montages, masks): PNG is lossless whatever the level, and 1
#: encodes an overlay about 4x faster than Pillow's default (6), for files about as small.
PNG_COMPRESS_LEVEL: Final = 1

#: ``PATH#k``: slice ``k`` of a volume file.
_VOLUME_SLICE = re.compile(r"#\d+$")


@dataclass
class _StudyState:
    """What the writer holds for the study in progress: names, thumbnails, and the masks (see anatomy)."""

    study: Study
    name: str
    montage: Montage
    labels: dict[int, Path]
    overlay_names: UniqueNames = field(default_factory=UniqueNames)
    mask_names: UniqueNames = field(default_factory=UniqueNames)
    overlays: list[dict[str, Any]] = field(default_factory=list)
    masks: list[dict[str, Any]] = field(default_factory=list)
    display_shape: tuple[int, int] | None = None
    labels_drawn: int = 0
    anatomy: AnatomyCollector | None = None


class OutputWriter:
    """Writes what the pipeline finds, as it finds it: a :class:`~ctangel.inference.ResultSink`.

    Per study (as soon as its slices are done): overlay PNGs of the positive slices, with the model's lesion
    boxes in red and, when ``labels`` is given, the label's lesion boxes in green beside them; a montage of
    the study's slices; with ``write_masks``, the lesion masks. At the end: ``results.json`` and a
    self-contained ``report.html``. Outputs of earlier studies stay when a later one fails, and
    ``results.partial.jsonl`` holds one line per finished study until ``results.json`` replaces it.

    Images are drawn and written in one background thread (:class:`BackgroundWriter`), a few slices behind
    the pipeline; a study's files are all on disk before :meth:`finish_study` returns, or it raises
    :class:`~ctangel.errors.OutputError`.

    Memory per study holds one small tile per kept slice (see :class:`Montage`) and some 100 bytes a slice
    of index; the lung and lesion masks (for the anatomy figures, the DICOM SEG and a volume's mask) wait
    in unnamed temporary files in ``out_dir``.

    Args:
        out_dir: the output folder (created, with its parents).
        window: the HU window the slices of DICOM and NIfTI studies are drawn with.
        labels: a folder of label images (white = lesion, cut at ``LABEL_THRESHOLD``) with the same file
            stems as the slices (any image ending), listed once; None draws no label boxes.
        write_masks: write lesion masks (PNG per slice for image inputs, one NIfTI per volume).
        overlays: ``"positive"`` (slices called positive and slices whose label holds lesion), ``"all"``
            or ``"none"``.
        regions: how the lungs are cut for the per-region figures and the severity score: ``"lobes"``
            (estimated from the lung's shape) or ``"zones"`` (thirds by height).
        dicom_seg: write a DICOM SEG per DICOM series (lesion and lung segments per lobe or zone).

    Raises:
        ConfigError: ``out_dir`` cannot be created, ``labels`` is not a folder, or ``overlays`` is unknown.
    """

    def __init__(
        self,
        out_dir: Path,
        window: Window,
        labels: Path | None = None,
        write_masks: bool = False,
        overlays: OverlayChoice = "positive",
        regions: RegionMethod = DEFAULT_REGION_METHOD,
        dicom_seg: bool = False,
    ) -> None:
        if overlays not in OVERLAY_CHOICES:
            raise ConfigError(f"overlays must be one of {', '.join(OVERLAY_CHOICES)}, got {overlays!r}")
        self.out_dir = Path(out_dir)
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{self.out_dir}: cannot create the output folder ({exc}); choose another") from exc
        self.window = window
        self.labels = None if labels is None else LabelIndex(Path(labels))
        self.write_masks = write_masks
        self.overlays: OverlayChoice = overlays
        self.regions: RegionMethod = regions
        self.dicom_seg = dicom_seg
        self._names = UniqueNames()
        self._states: dict[int, _StudyState] = {}
        self._notes: dict[str, list[str]] = {}
        self._errors: list[InputError] = []
        self._partial_started = False
        self._files = BackgroundWriter()

    @property
    def results_path(self) -> Path:
        """``results.json`` (written by :meth:`finish`)."""
        return self.out_dir / RESULTS_NAME

    @property
    def report_path(self) -> Path:
        """``report.html`` (written by :meth:`finish`)."""
        return self.out_dir / REPORT_NAME

    @property
    def partial_path(self) -> Path:
        """``results.partial.jsonl``: a line per finished study or failed input, until :meth:`finish`."""
        return self.out_dir / PARTIAL_RESULTS_NAME

    @property
    def summary_path(self) -> Path:
        """``summary.csv`` (written by :meth:`finish`)."""
        return self.out_dir / SUMMARY_NAME

    @property
    def errors(self) -> list[InputError]:
        """The inputs that failed, in the order reported."""
        return list(self._errors)

    # --- ResultSink --------------------------------------------------------------------------------

    def start_study(self, study: Study, name: str | None = None) -> None:
        """Name the study's outputs and look up its label images.

        Args:
            study: the study.
            name: the name its outputs go under (``studies/<name>/``), when another writer of the same run
                gave it one (on a cluster, the client names every study and each worker writes one); by
                default a name no earlier study of this writer took.
        """
        name = self._names.take(_study_label(study)) if name is None else name
        state = _StudyState(
            study=study,
            name=name,
            montage=Montage(len(study)),
            labels={} if self.labels is None or self.overlays == "none" else self.labels.for_study(study),
            anatomy=AnatomyCollector(self.regions, study.is_volume, spill_dir=self.out_dir),
        )
        self._states[id(study)] = state
        notes = [f"skipped: {line}" for line in study.skipped]
        if state.montage.stride > 1:
            notes.append(f"The montage shows every positive slice and one negative slice in {state.montage.stride}.")
        self._notes[self._rel(self._study_dir(name))] = notes

    def add_slice(self, study: Study, result: SliceResult, pixels: SlicePixels, findings: SliceFindings) -> None:
        """Write the slice's overlay and mask as called for, and keep its tile.

        Args:
            study: the slice's study (started with :meth:`start_study`).
            result: the slice's result; its boxes are in the stored image's pixels.
            pixels: the slice, display orientation.
            findings: the slice's findings, display orientation.
        """
        state = self._state(study)
        grey = to_uint8(to_unit_range(pixels, study.kind, self.window))
        state.display_shape = (grey.shape[0], grey.shape[1])
        positive = findings.positive
        truth = None
        label_path = state.labels.get(result.index)
        if label_path is not None:
            truth = LabelIndex.read(label_path, study, state.display_shape)
        wanted = self.overlays == "all" or (
            self.overlays == "positive" and (positive or (truth is not None and bool(truth.any())))
        )
        if wanted:
            self._write_overlay(state, result, grey, findings, truth, has_labels=bool(state.labels))
        if state.montage.wants(result.index, positive):
            state.montage.add(result.index, grey, positive, findings.lesion_mask if positive else None)
        if self.write_masks:
            self._keep_mask(state, result, findings.lesion_mask)
        if state.anatomy is not None:
            state.anatomy.add(result.index, findings.lung_mask, findings.lesion_mask)

    def finish_study(self, study: Study, result: StudyResult) -> None:
        """Write the montage (and a volume's mask), and record in ``result.outputs`` what was written.

        Raises:
            OutputError: a file of the study (an overlay, the montage, a mask) could not be written.
        """
        state = self._states.pop(id(study), None)
        if state is None:
            state = _StudyState(study, self._names.take(_study_label(study)), Montage(0), {})
        try:
            self._finish_files(state, result)
        finally:
            if state.anatomy is not None:
                state.anatomy.close()
        logger.info(
            "%s: %d overlays%s written under %s",
            study.input,
            len(state.overlays),
            f" ({state.labels_drawn} with label boxes)" if state.labels else "",
            self._study_dir(state.name),
        )
        self._append_partial({"patient_id": result.patient_id, "study": result.to_dict()})

    def _finish_files(self, state: _StudyState, result: StudyResult) -> None:
        """The montage, the anatomy and its figures, a volume's mask; then wait for the study's images."""
        folder = self._study_dir(state.name)
        outputs: dict[str, Any] = {"folder": self._rel(folder), "overlays": state.overlays}
        if len(state.montage):
            outputs["montage"] = self._rel(folder / MONTAGE_NAME)
        if self.write_masks:
            if state.study.is_volume:
                mask_path = self._write_volume_mask(state)
                if mask_path is not None:
                    outputs["mask"] = self._rel(mask_path)
            else:
                outputs["masks"] = state.masks
        result.outputs = outputs
        if state.anatomy is not None:
            self._finish_anatomy(state, result, folder)
        if len(state.montage):  # drawn after the anatomy: the two never hold their memory at once
            folder.mkdir(parents=True, exist_ok=True)
            montage = state.montage
            self._files.submit(folder / MONTAGE_NAME, lambda path: _save_png(montage.render(), path))
        self._files.flush()

    def fail_input(self, error: InputError) -> None:
        """Remember the failed input for the report; what its study wrote so far stays on disk (but is not
        listed in the report, which lists finished studies)."""
        self._errors.append(error)
        try:
            self._files.flush()  # what the failed study wrote so far stays on disk
        except OutputError as exc:
            logger.error("%s", exc)
        for key, state in list(self._states.items()):
            # A study that fails on a slice is reported under that slice's file.
            if error.path == state.study.input or error.path in state.study.sources:
                self._drop(key)
        self._append_partial({"error": {"input": error.path, "error": error.problem}})

    def finish(self, result: AnalysisResult) -> None:
        """Write ``results.json`` (atomically) and ``report.html``; remove the partial results.

        Raises:
            OutputError: an image of a study never finished could not be written, or a file here.
        """
        for key in list(self._states):
            self._drop(key)
        self._files.flush()
        with atomic_text(self.results_path) as f:
            json.dump(result.to_dict(), f, indent=JSON_INDENT, ensure_ascii=False, default=str)
            f.write("\n")
        write_html_report(self.report_path, result, self._notes)
        write_summary_csv(self.summary_path, result, self.regions)
        self.partial_path.unlink(missing_ok=True)
        logger.info("wrote %s and %s", self.results_path, self.report_path)

    # --- naming and notes, for a run split between writers (ctangel.distributed) ----------------------

    def study_name(self, study: Study) -> str:
        """The name a started study's outputs go under (``studies/<name>/``); starts it if need be."""
        return self._state(study).name

    @property
    def notes(self) -> dict[str, list[str]]:
        """The lines the report shows under each study, keyed by the study's ``outputs["folder"]``."""
        return {folder: list(lines) for folder, lines in self._notes.items()}

    def update_notes(self, notes: dict[str, list[str]]) -> None:
        """Replace the report's lines for the studies in ``notes`` (as another writer of the run made them)."""
        self._notes.update({folder: list(lines) for folder, lines in notes.items()})

    # --- helpers -----------------------------------------------------------------------------------

    def _drop(self, key: int) -> None:
        state = self._states.pop(key)
        if state.anatomy is not None:
            state.anatomy.close()

    def _state(self, study: Study) -> _StudyState:
        state = self._states.get(id(study))
        if state is None:
            self.start_study(study)
            state = self._states[id(study)]
        return state

    def _study_dir(self, name: str) -> Path:
        return self.out_dir / STUDIES_DIR / name

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.out_dir).as_posix()

    def _write_overlay(
        self,
        state: _StudyState,
        result: SliceResult,
        grey: npt.NDArray[np.uint8],
        findings: SliceFindings,
        truth: BoolMask | None,
        has_labels: bool,
    ) -> None:
        study = state.study
        stem = _source_stem(result.source)
        index = f"{result.index:0{INDEX_DIGITS}d}"
        name = state.overlay_names.take(index if stem is None else f"{index}_{stem}", PNG_SUFFIX)
        area = int(findings.lesion_mask.sum())
        caption = [
            f"slice {result.index} | {_short(Path(result.source).name)}",
            f"lesion probability {findings.lesion_probability:.3f} | lesion {area} px"
            + _mm2(area, study.pixel_area_mm2),
        ]
        truth_boxes = None
        if truth is not None:
            truth_boxes = LabelIndex.boxes(truth)
            state.labels_drawn += 1
        elif has_labels:
            caption.append("no label image for this slice")
        boxes, lesion = [les.box for les in findings.lesions], findings.lesion_mask

        def write(path: Path) -> None:
            overlay = draw_overlay(grey, boxes, caption, lesion_mask=lesion, truth_boxes=truth_boxes, truth_mask=truth)
            _save_png(overlay, path)

        folder = self._study_dir(state.name) / OVERLAYS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        self._files.submit(path, write)
        state.overlays.append({"index": result.index, "path": self._rel(path)})

    def _finish_anatomy(self, state: _StudyState, result: StudyResult, folder: Path) -> None:
        """Per lung and per region figures into ``result.anatomy``, the two charts, and the DICOM SEG."""
        from ctangel.report.dicom_seg import is_dicom_series, write_dicom_seg

        collector = state.anatomy
        if collector is None or len(collector.lungs) == 0:
            return
        study = state.study
        result.anatomy = collector.finish(study.voxel_volume_ml).to_dict()
        doc = {"anatomy": result.anatomy, "slices": [{"lesion_area_px": s.lesion_area_px} for s in result.slices]}
        folder.mkdir(parents=True, exist_ok=True)
        charts = {PROFILE_CHART_NAME: lesion_profile_svg(doc), REGIONS_CHART_NAME: regions_svg(result.anatomy)}
        for name, svg in charts.items():
            if svg:
                with atomic_text(folder / name) as f:
                    f.write(svg)
                result.outputs.setdefault("charts", []).append(self._rel(folder / name))
        if self.dicom_seg and is_dicom_series(study):
            try:
                path = write_dicom_seg(study, collector, self.out_dir / DICOM_SEG_DIR / f"{state.name}.dcm")
            except InputError as exc:
                logger.error("%s", exc)
                self._notes.setdefault(self._rel(folder), []).append(f"DICOM SEG not written: {exc.problem}")
            else:
                result.outputs["dicom_seg"] = self._rel(path)
        elif self.dicom_seg:
            logger.info("%s: not a DICOM series; no DICOM SEG", study.input)

    def _keep_mask(self, state: _StudyState, result: SliceResult, lesion: BoolMask) -> None:
        """An image's mask PNG (a volume's masks wait in its :class:`AnatomyCollector` until its NIfTI)."""
        study = state.study
        if study.is_volume:
            return
        stem = _source_stem(result.source) or f"{result.index:0{INDEX_DIGITS}d}"
        folder = self.out_dir / MASKS_DIR / state.name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / state.mask_names.take(stem, PNG_SUFFIX)
        stored = study.display.invert(lesion)
        values = np.where(stored, MASK_FOREGROUND, MASK_BACKGROUND).astype(np.uint8)
        self._files.submit(path, lambda p: _save_png(Image.fromarray(values, mode="L"), p))
        state.masks.append({"index": result.index, "path": self._rel(path)})

    def _write_volume_mask(self, state: _StudyState) -> Path | None:
        from ctangel.io.nifti import mask_to_nifti  # nibabel is needed only for volume masks

        study = state.study
        if state.display_shape is None:
            logger.warning("%s: no slice was analysed; no mask written", study.input)
            return None
        empty = np.zeros(state.display_shape, dtype=bool)
        lesions = state.anatomy.lesions if state.anatomy is not None else None
        masks = (lesions.get(i) if lesions is not None and i in lesions else empty for i in range(len(study)))
        try:
            image = mask_to_nifti(study, masks)
        except ValueError as exc:
            logger.error("%s: the lesion mask cannot be written (%s)", study.input, exc)
            notes = self._notes.setdefault(self._rel(self._study_dir(state.name)), [])
            notes.append(f"lesion mask not written: {exc}")
            return None
        folder = self.out_dir / MASKS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{state.name}{NIFTI_SUFFIX}"
        tmp = folder / f".{state.name}.tmp{NIFTI_SUFFIX}"
        try:
            image.to_filename(str(tmp))
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def _append_partial(self, entry: dict[str, Any]) -> None:
        mode = "a" if self._partial_started else "w"
        with self.partial_path.open(mode, encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
        self._partial_started = True


def _save_png(image: Image.Image | None, path: Path) -> None:
    if image is not None:
        image.save(path, compress_level=PNG_COMPRESS_LEVEL)


def _study_label(study: Study) -> str:
    """What a study's output names are made from: the patient id, and the series id when it adds to it
    (image folders and NIfTI files name both after the same folder or file)."""
    pid, sid = study.patient_id, study.series_id
    if not pid or not sid or sid.startswith(pid):
        return pid or sid
    return f"{pid}_{sid}"


def _source_stem(source: str) -> str | None:
    """A safe file stem from a slice's source, or None for slice ``k`` of a volume file (``PATH#k``)."""
    if _VOLUME_SLICE.search(source):
        return None
    stem = Path(source).stem
    return safe_name(stem) if stem else None


def _short(text: str) -> str:
    return text if len(text) <= CAPTION_SOURCE_CHARS else "..." + text[-(CAPTION_SOURCE_CHARS - 3) :]


def _mm2(area_px: int, pixel_area_mm2: float | None) -> str:
    return "" if pixel_area_mm2 is None or area_px == 0 else f" ({area_px * pixel_area_mm2:.1f} mm2)"
