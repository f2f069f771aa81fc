"""Score a results.json against the truth: CT-Angel's accuracy table per image and per patient, ROC curves
and AUCs, and (with label images and ``--masks``) the overlap of the lesion masks.

Example::

    report = evaluate(Path("out/results.json"), Path("test_labels"), Path("out/evaluation"))
    report.per_image.rates()["sensitivity"].format()  # '94.34% (90.1–96.8)'

What is scored:

* **per image**: each matched slice's ``positive`` against its truth; ROC over its ``lesion_probability``.
* **per patient**: a patient is truly positive when any of their matched slices is. The call is the
  patient's ``positive`` in results.json. When a CSV's ``patient`` column groups slices differently from
  results.json (a patient there is not exactly one patient of the results), the results' own patient rule
  (its ``settings``) is applied to the group's slices instead, and the report says how many such groups
  there are. ROC over the patient's highest slice ``lesion_probability``. Patients with no matched slice
  are left out.
* **segmentation**: see :class:`~ctangel.metrics.overlap.SegmentationScores` for the mean over slices
  with lesion, the pooled figures and the empty-truth slices.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ctangel.constants import (
    LABEL_THRESHOLD,
    PATIENT_MIN_POSITIVE_SLICES,
    PATIENT_MIN_TOTAL_LESION_AREA_PX_AT_512,
    REFERENCE_SIDE_PX,
)
from ctangel.errors import ConfigError, InputError
from ctangel.io.image import read_label
from ctangel.log import logger
from ctangel.metrics.confusion import RATE_TITLES, ConfusionCounts
from ctangel.metrics.overlap import SegmentationMetric, SegmentationScores
from ctangel.metrics.results_file import ResultsFile, read_results
from ctangel.metrics.roc import RocCurve, compute_roc, plot_roc
from ctangel.metrics.truth import Truth, TruthKind, UnmatchedRow, read_truth
from ctangel.report.files import atomic_text

METRICS_JSON: Final = "metrics.json"
METRICS_MD: Final = "metrics.md"
ROC_PNG: Final = "roc.png"
PER_IMAGE: Final = "Per image"
PER_PATIENT: Final = "Per patient"
#: Unmatched slices and CSV rows named one by one in metrics.md (metrics.json lists them all).
MAX_LISTED: Final = 10
#: Decimals of Dice, IoU and pixel rates (in 0..1) in metrics.md, as Inf-Net reports them.
OVERLAP_DECIMALS: Final = 3
JSON_INDENT: Final = 2
MASKS_NEEDED: Final = "Dice and IoU need the predicted lesion masks: run `ctangel analyze --masks` and evaluate again."
LABELS_NEEDED: Final = (
    "Dice and IoU need label images: give --truth a folder of label images (white = lesion) and run "
    "`ctangel analyze --masks`."
)


@dataclass(frozen=True)
class PatientCall:
    """One patient's call, truth and score.

    Args:
        patient_id: the patient (the CSV's, where it gives one).
        predicted: the patient call.
        truth: whether any of the patient's matched slices is truly positive.
        score: the patient's highest slice lesion probability.
        n_slices: the patient's slices the call rests on.
        by_rule: whether the call was made here by the results' patient rule (CSV regrouping).
    """

    patient_id: str
    predicted: bool
    truth: bool
    score: float
    n_slices: int
    by_rule: bool = False


@dataclass
class EvaluationReport:
    """What :func:`evaluate` found and wrote.

    Args:
        results_path: the results.json scored.
        truth_path: the label folder or CSV.
        truth_kind: ``"labels"`` or ``"csv"``.
        n_slices: slices in the results.
        n_matched: slices with a truth.
        per_image: confusion counts over the matched slices.
        per_patient: confusion counts over the patients with a matched slice.
        roc_image: ROC of the slices' lesion probabilities.
        roc_patient: ROC of the patients' highest slice lesion probabilities.
        patients: each patient's call, truth and score.
        segmentation: lesion-mask scores, or None when no mask could be scored.
        segmentation_note: why there are no (or only some) lesion-mask scores, or None.
        unmatched_slices: sources of the slices with no truth.
        unmatched_rows: CSV rows that labelled no slice.
        notes: what else the reader should know.
        out_dir: the folder the files were written to.
    """

    results_path: Path
    truth_path: Path
    truth_kind: TruthKind
    n_slices: int
    n_matched: int
    per_image: ConfusionCounts
    per_patient: ConfusionCounts
    roc_image: RocCurve
    roc_patient: RocCurve
    patients: list[PatientCall]
    segmentation: SegmentationScores | None
    segmentation_note: str | None
    unmatched_slices: list[str] = field(default_factory=list)
    unmatched_rows: list[UnmatchedRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    out_dir: Path = Path()

    @property
    def metrics_json_path(self) -> Path:
        """``metrics.json``: every figure."""
        return self.out_dir / METRICS_JSON

    @property
    def metrics_md_path(self) -> Path:
        """``metrics.md``: the tables."""
        return self.out_dir / METRICS_MD

    @property
    def roc_png_path(self) -> Path:
        """``roc.png``: the per-image and per-patient ROC curves."""
        return self.out_dir / ROC_PNG

    def tables_markdown(self) -> str:
        """CT-Angel's accuracy table, the AUCs and (when scored) the segmentation table, in Markdown."""
        titles = list(RATE_TITLES.values())
        lines = [
            "| | " + " | ".join(titles) + " | TP/FP/TN/FN |",
            "|---|" + "---|" * (len(titles) + 1),
        ]
        for name, counts in ((PER_IMAGE, self.per_image), (PER_PATIENT, self.per_patient)):
            cells = [rate.format() for rate in counts.rates().values()]
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {counts.format_counts()} |")
        lines += [
            "",
            "Rates with 95% Wilson score intervals (in percent); n/a: nothing to divide by.",
            "",
            "| | AUC | Positives | Negatives | Score |",
            "|---|---|---|---|---|",
            f"| {PER_IMAGE} | {self.roc_image.format_auc()} | {self.roc_image.n_positive} | "
            f"{self.roc_image.n_negative} | the slice's lesion probability |",
            f"| {PER_PATIENT} | {self.roc_patient.format_auc()} | {self.roc_patient.n_positive} | "
            f"{self.roc_patient.n_negative} | the patient's highest slice lesion probability |",
        ]
        seg = self.segmentation
        if seg is not None:
            lines += [
                "",
                "| Lesion masks | Slices | Dice | IoU | Sensitivity (px) | Specificity (px) |",
                "|---|---|---|---|---|---|",
                f"| Mean over slices with lesion | {seg.n_lesion_slices} | {_fig(seg.dice_mean)} | "
                f"{_fig(seg.iou_mean)} | {_fig(seg.sensitivity_mean)} | {_fig(seg.specificity_mean)} |",
                f"| Pooled over all pixels | {seg.n_slices} | {_fig(seg.dice_pooled)} | "
                f"{_fig(seg.iou_pooled)} | {_fig(seg.sensitivity_pooled)} | {_fig(seg.specificity_pooled)} |",
                "",
                f"Slices with no true lesion: {seg.n_empty_truth}, of which "
                f"{seg.n_empty_truth_predicted} with a predicted lesion pixel "
                f"({_share(seg.empty_truth_predicted_share)}); they are left out of the means "
                "and counted in the pooled figures.",
            ]
        if self.segmentation_note:
            lines += ["", self.segmentation_note]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """metrics.md: where the figures come from, the tables, and what did not match."""
        kind = "label images" if self.truth_kind == "labels" else "CSV"
        lines = [
            "# ctangel evaluation",
            "",
            f"- results: `{self.results_path}`",
            f"- truth: `{self.truth_path}` ({kind})",
            f"- slices matched: {self.n_matched} of {self.n_slices}; patients scored: {len(self.patients)}",
            "",
            self.tables_markdown(),
            "",
            "![ROC curves](roc.png)",
        ]
        extra = [f"- {note}" for note in self.notes]
        if self.unmatched_slices:
            shown = ", ".join(f"`{s}`" for s in self.unmatched_slices[:MAX_LISTED])
            more = len(self.unmatched_slices) - MAX_LISTED
            tail = f", and {more} more" if more > 0 else ""
            extra.append(f"- slices with no truth: {len(self.unmatched_slices)} ({shown}{tail})")
        if self.unmatched_rows:
            shown = "; ".join(f"line {r.line} `{r.source}`: {r.reason}" for r in self.unmatched_rows[:MAX_LISTED])
            more = len(self.unmatched_rows) - MAX_LISTED
            extra.append(
                f"- CSV rows that matched no slice: {len(self.unmatched_rows)} ({shown}"
                f"{f'; and {more} more' if more > 0 else ''})"
            )
        if extra:
            lines += ["", "## Notes", "", *extra]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """metrics.json: every figure, count and interval, and what matched."""
        return {
            "results": str(self.results_path),
            "truth": {"path": str(self.truth_path), "kind": self.truth_kind},
            "n_slices": self.n_slices,
            "n_matched_slices": self.n_matched,
            "n_patients": len(self.patients),
            "per_image": {**self.per_image.to_dict(), "roc": self.roc_image.to_dict()},
            "per_patient": {**self.per_patient.to_dict(), "roc": self.roc_patient.to_dict()},
            "segmentation": None if self.segmentation is None else self.segmentation.to_dict(),
            "segmentation_note": self.segmentation_note,
            "patients": [
                {
                    "patient_id": p.patient_id,
                    "predicted": p.predicted,
                    "truth": p.truth,
                    "score": p.score,
                    "n_slices": p.n_slices,
                    "by_rule": p.by_rule,
                }
                for p in self.patients
            ],
            "unmatched_slices": self.unmatched_slices,
            "unmatched_rows": [{"line": r.line, "source": r.source, "reason": r.reason} for r in self.unmatched_rows],
            "notes": self.notes,
            "files": {"json": METRICS_JSON, "markdown": METRICS_MD, "roc": ROC_PNG},
        }


def evaluate(results_path: Path, truth: Path, out_dir: Path) -> EvaluationReport:
    """Score the calls of a results.json against the truth and write metrics.json, metrics.md and roc.png.

    Args:
        results_path: the results.json of ``ctangel analyze`` (or its output folder).
        truth: a folder of label images or a CSV with columns ``source,label[,patient]``
            (see :mod:`ctangel.metrics.truth`).
        out_dir: where the three files go (created).

    Returns:
        The figures, and where they were written.

    Raises:
        InputError: the results.json is missing or not ctangel's; the truth is missing, empty, lacks the
            needed columns or matches no slice; a mask results.json lists is missing.
        ConfigError: ``out_dir`` cannot be created.
    """
    results = read_results(Path(results_path))
    found = read_truth(Path(truth), results)
    matched = sorted(found.labels)
    slices = results.slices
    per_image = ConfusionCounts.from_predictions(
        [slices[i].positive for i in matched], [found.labels[i] for i in matched]
    )
    roc_image = compute_roc([slices[i].lesion_probability for i in matched], [found.labels[i] for i in matched])
    patients, notes = _patient_calls(results, found)
    per_patient = ConfusionCounts.from_predictions([p.predicted for p in patients], [p.truth for p in patients])
    roc_patient = compute_roc([p.score for p in patients], [p.truth for p in patients])
    segmentation, segmentation_note = _segmentation(results, found)
    report = EvaluationReport(
        results_path=results.path,
        truth_path=found.path,
        truth_kind=found.kind,
        n_slices=len(slices),
        n_matched=len(matched),
        per_image=per_image,
        per_patient=per_patient,
        roc_image=roc_image,
        roc_patient=roc_patient,
        patients=patients,
        segmentation=segmentation,
        segmentation_note=segmentation_note,
        unmatched_slices=[s.source for i, s in enumerate(slices) if i not in found.labels],
        unmatched_rows=found.unmatched_rows,
        notes=[*found.notes, *notes],
        out_dir=Path(out_dir),
    )
    _write(report)
    return report


def _patient_calls(results: ResultsFile, truth: Truth) -> tuple[list[PatientCall], list[str]]:
    slices = results.slices
    notes: list[str] = []
    groups: dict[str, list[int]] = {}
    for i in sorted(truth.labels):
        groups.setdefault(truth.patients.get(i, slices[i].patient_id), []).append(i)
    owners = {p.patient_id: p for p in results.patients}
    calls: list[PatientCall] = []
    n_rule = 0
    for name, members in groups.items():
        sources = {slices[i].patient_id for i in members}
        owner = owners.get(next(iter(sources))) if len(sources) == 1 else None
        labelled = any(truth.labels[i] for i in members)
        # results.json's call stands when the group is one of its patients' labelled slices, all of them.
        if owner is not None and {i for i in owner.slices if i in truth.labels} == set(members):
            score = max((slices[i].lesion_probability for i in owner.slices), default=0.0)
            calls.append(PatientCall(name, owner.positive, labelled, score, len(owner.slices)))
            continue
        # The CSV groups these slices differently from results.json: no call there is for this group.
        n_rule += 1
        predicted = _patient_rule(results, members)
        score = max(slices[i].lesion_probability for i in members)
        calls.append(PatientCall(name, predicted, labelled, score, len(members), by_rule=True))
    if n_rule:
        notes.append(
            f"{n_rule} patients of the CSV's patient column are not exactly one patient of results.json; "
            "their call was made here by the results' patient rule over their labelled slices."
        )
    unscored = sum(1 for p in results.patients if not any(i in truth.labels for i in p.slices))
    if unscored:
        notes.append(f"{unscored} patients of results.json have no labelled slice and are not scored.")
    partly = sum(1 for p in results.patients if 0 < sum(i in truth.labels for i in p.slices) < len(p.slices))
    if partly:
        notes.append(
            f"{partly} patients of results.json have only some slices labelled; their truth rests on those, "
            "their call (results.json's) on all of their slices."
        )
    return calls, notes


def _patient_rule(results: ResultsFile, members: list[int]) -> bool:
    """The results' patient rule (its settings, else ctangel's defaults) over the slices ``members``."""
    from ctangel.inference.decisions import PatientRule  # the inference package is heavy; only here
    from ctangel.inference.results import SliceResult

    settings = results.settings
    rule = PatientRule(
        int(settings.get("patient_min_positive_slices", PATIENT_MIN_POSITIVE_SLICES)),
        float(settings.get("patient_min_lesion_area_px_at_512", PATIENT_MIN_TOTAL_LESION_AREA_PX_AT_512)),
    )
    reference = (REFERENCE_SIDE_PX, REFERENCE_SIDE_PX)
    return rule(
        [
            SliceResult(
                index=s.index,
                source=s.source,
                shape=s.shape or reference,
                positive=s.positive,
                lesion_probability=s.lesion_probability,
                lesion_area_px=s.lesion_area_px,
                lung_area_px=0,
                lung_box=None,
            )
            for s in (results.slices[i] for i in members)
        ]
    )


def _segmentation(results: ResultsFile, truth: Truth) -> tuple[SegmentationScores | None, str | None]:
    if truth.kind != "labels":
        return None, LABELS_NEEDED
    metric = SegmentationMetric()
    no_mask = bad_size = 0
    for i, label in sorted(truth.label_images.items()):
        mask_path = results.slices[i].mask
        if mask_path is None:
            no_mask += 1
            continue
        if not mask_path.is_file():
            raise InputError(
                mask_path,
                f"{results.path} lists this lesion mask but it is missing; keep the results folder whole, "
                "or run `ctangel analyze --masks` again",
            )
        pred = read_label(mask_path, LABEL_THRESHOLD)
        true = read_label(label, LABEL_THRESHOLD)
        if pred.shape != true.shape:
            logger.warning(
                "%s: label is %dx%d, the mask %s %dx%d; not scored",
                label,
                *true.shape,
                mask_path,
                *pred.shape,
            )
            bad_size += 1
            continue
        metric.update(pred, true)
    scores = metric.aggregate()
    notes = []
    if bad_size:
        notes.append(f"{bad_size} label images differ in size from their predicted mask and are not scored.")
    if scores.n_slices == 0:
        return None, " ".join([MASKS_NEEDED, *notes])
    if no_mask:
        notes.append(
            f"{no_mask} labelled slices have no predicted mask (analysed without --masks) and are not in the "
            "lesion-mask scores."
        )
    return scores, " ".join(notes) or None


def _write(report: EvaluationReport) -> None:
    out = report.out_dir
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{out}: cannot create the output folder ({exc}); choose another with --out") from exc
    with atomic_text(report.metrics_json_path) as f:
        json.dump(report.to_dict(), f, indent=JSON_INDENT, ensure_ascii=False)
        f.write("\n")
    with atomic_text(report.metrics_md_path) as f:
        f.write(report.to_markdown())
    plot_roc(
        {
            f"{PER_IMAGE} (n={report.n_matched})": report.roc_image.points(),
            f"{PER_PATIENT} (n={len(report.patients)})": report.roc_patient.points(),
        },
        report.roc_png_path,
        title="ROC: lesion probability against the truth",
    )
    logger.info("wrote %s, %s and %s", report.metrics_json_path, report.metrics_md_path, report.roc_png_path)


def _fig(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.{OVERLAP_DECIMALS}f}"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"
