"""Accuracy of the shipped models on public data held out from their training, measured like CT-Angel.

Run: ``.venv/bin/python bench/accuracy.py`` (needs ../shared/data; ``build/datasets`` from ``ctangel prepare``
for the lung-agreement section). Writes ``bench/results/accuracy.json`` and ``bench/results/accuracy.md``.

Every section says which data trained the models and which measured them. Nothing measured here was
trained on: MedSeg's test split, the UCSD test patients, LIDC-IDRI-0003, CT-Angel's own samples and the
synthetic phantom are in no training or validation folder (see ``ctangel.training.sources``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ctangel import __version__
from ctangel.constants import LABEL_THRESHOLD
from ctangel.inference import AnalysisResult, AnalysisSettings, Pipeline, SliceResult
from ctangel.inference.collect import MaskCollector
from ctangel.inference.postprocess import box_mask
from ctangel.io.image import image_study, read_label
from ctangel.io.study import DisplayTransform, Study
from ctangel.metrics.confusion import ConfusionCounts
from ctangel.metrics.overlap import SegmentationMetric
from ctangel.metrics.roc import compute_roc, plot_roc
from ctangel.training import sources
from ctangel.training.data import load_examples
from ctangel.training.validate import validate_lung

REPO = Path(__file__).resolve().parents[1]
TRAINED_ON = {
    "lung": "classical lung masks of LIDC-IDRI-0001, MedSeg train, 16 Ma et al. volumes, UCSD train patients",
    "lesion": (
        "MedSeg train (41 slices; 9 more for validation) + negatives: UCSD non-COVID train patients, LIDC-IDRI-0001"
    ),
}


def lesion_trained_on(pipeline: Pipeline) -> str:
    """What trained the lesion model, from its checkpoint's recorded training config."""
    config = pipeline.lesion_model.checkpoint.meta.get("config", {})
    text = TRAINED_ON["lesion"]
    if Path(str(config.get("data", ""))).name.startswith("lesion_semi"):
        teacher = Path(str(config.get("init_from", "the teacher"))).stem
        text += (
            f" + pseudo-labels by {teacher} (its starting point) of Ma et al.'s unlabelled COVID-19 slices "
            "(every 2nd slice of the 20 volumes; MedSeg weighted 3x)"
        )
    augment = config.get("augment", {})
    if float(augment.get("p_insert", 0.0)) > 0:
        text += " + synthetic lesions drawn in HU into LIDC-IDRI-0001's lungs"
    if float(augment.get("p_real_shapes", 0.0)) > 0:
        text += (
            "; then fine-tuned with MosMedData's real COVID-19 lesion shapes drawn in HU into the lungs of "
            "LIDC-IDRI-0001 and Lung-PET-CT-Dx A0001 (snapshot chosen on the COVID-CT-MD clinical series)"
        )
    return text


def one_image(path: Path, patient: str, display: DisplayTransform | None = None) -> Study:
    """One 8-bit image as a study of its own, turned to display orientation by ``display``."""
    return image_study([str(path)], str(path.parent), study_id=path.stem, patient_id=patient, display=display)


def slices_of(result: AnalysisResult) -> list[tuple[str, SliceResult]]:
    return [(p.patient_id, s) for p in result.patients for st in p.studies for s in st.slices]


def confusion_table(counts: ConfusionCounts) -> dict[str, Any]:
    return {"counts": counts.to_dict(), **{k: v.to_dict() for k, v in counts.rates().items()}}


def medseg(pipeline: Pipeline, data: Path, oriented: bool) -> dict[str, Any]:
    """MedSeg's 48 test slices: Dice, IoU, pixel sensitivity/specificity; lesions outside the valid region."""
    root = data / "medseg_covid100_infnet" / "test"
    images = sorted((root / "images").glob("*.jpg"), key=lambda p: int(p.stem))
    display = DisplayTransform(transpose=True) if oriented else DisplayTransform()
    sink = MaskCollector()
    result = pipeline.analyze_studies([one_image(p, "medseg", display) for p in images], sink=sink)
    seg = SegmentationMetric()
    outside_px, total_px, slices_called = 0, 0, 0
    for path in images:
        truth = read_label(root / "mask_infection" / f"{path.stem}.png", LABEL_THRESHOLD)
        seg.update(sink.masks[str(path)], truth)
        region = sink.regions[str(path)]
        truth_disp = display.apply(truth)
        shape = truth_disp.shape
        inside = box_mask(region, shape) if region is not None else np.zeros(shape, bool)
        outside_px += int((truth_disp & ~inside).sum())
        total_px += int(truth_disp.sum())
    slices_called = sum(s.positive for _, s in slices_of(result))
    scores = seg.aggregate()
    return {
        "orientation": "turned to display orientation (transposed)" if oriented else "as stored (spine on the right)",
        "n_slices": len(images),
        "slices_called_positive": slices_called,
        "segmentation": scores.to_dict(),
        "truth_lesion_px_outside_valid_region_share": outside_px / max(total_px, 1),
        "measured_on": "MedSeg test split (Inf-Net's 48 slices), never trained on",
    }


def ucsd(pipeline: Pipeline, data: Path, roc_png: Path | None = None) -> dict[str, Any]:
    """UCSD COVID-CT test patients (the committed patient split): per image and per patient, with AUC."""
    rows = [r for r in sources.read_ucsd_split() if r["split"] == "test"]
    studies = [one_image(data / "ucsd_covid_ct" / r["file"], r["patient_id"]) for r in rows]
    truth_by_source = {str(data / "ucsd_covid_ct" / r["file"]): r["covid"] == "1" for r in rows}
    result = pipeline.analyze_studies(studies)
    pairs = slices_of(result)
    pred = [s.positive for _, s in pairs]
    truth = [truth_by_source[s.source] for _, s in pairs]
    scores = [s.lesion_probability for _, s in pairs]
    p_pred = [p.positive for p in result.patients]
    p_truth = [p.patient_id.startswith("COVID:") for p in result.patients]
    p_scores = [max(s.lesion_probability for st in p.studies for s in st.slices) for p in result.patients]
    image_roc, patient_roc = compute_roc(scores, truth), compute_roc(p_scores, p_truth)
    if roc_png is not None:
        plot_roc(
            {"per image": image_roc.points(), "per patient": patient_roc.points()},
            roc_png,
            "UCSD COVID-CT test patients: COVID-19 vs not",
        )
    return {
        "per_image": confusion_table(ConfusionCounts.from_predictions(pred, truth)),
        "per_image_auc": image_roc.auc,
        "per_patient": confusion_table(ConfusionCounts.from_predictions(p_pred, p_truth)),
        "per_patient_auc": patient_roc.auc,
        "n_images": len(pairs),
        "n_patients": len(result.patients),
        "trained_on_extra": " (UCSD non-COVID of the train patients only)",
        "measured_on": "UCSD COVID-CT test patients (committed split, patient-disjoint), COVID vs non-COVID",
    }


#: The clinical validation series (COVID-CT-MD sample): never trained on; checkpoints and rules are chosen on it.
CLINICAL = "covid_ct_md_val"
CLINICAL_PATIENTS = ("P002", "cap002", "normal002")


def clinical_labels(data: Path) -> dict[str, dict[str, str]]:
    """``labels.csv`` of the clinical validation series, by the resolved path of each slice's file."""
    import csv

    root = data / CLINICAL
    with open(root / "labels.csv", newline="") as f:
        return {str((root / r["file"]).resolve()): r for r in csv.DictReader(f)}


def _has_lesions(diagnosis: str) -> bool:
    """COVID-CT-MD's diagnoses: COVID-19 and CAP patients have pneumonia lesions, Normal ones none."""
    return diagnosis.strip().lower() != "normal"


def clinical_patient_tables(patients: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per-patient tables of the clinical series: lesions present (COVID-19 and CAP) and COVID-19."""
    pats = list(patients.values())
    called = [v["called_positive"] for v in pats]
    return {
        "per_patient_lesions": confusion_table(
            ConfusionCounts.from_predictions(called, [_has_lesions(v["diagnosis"]) for v in pats])
        ),
        "per_patient_covid": confusion_table(
            ConfusionCounts.from_predictions(called, [v["diagnosis"] == "COVID-19" for v in pats])
        ),
    }


def clinical(pipeline: Pipeline, data: Path, roc_png: Path | None = None) -> dict[str, Any]:
    """COVID-CT-MD's 3 clinical series (compressed HU DICOM, radiologists' slice labels): per slice, per patient.

    Per slice against ``infection`` (any pneumonia lesion) and ``covid_image`` (a COVID-19 lesion); per patient:
    lesions present (P002 COVID-19 and cap002 other pneumonia positive, normal002 negative) and COVID-19.
    """
    labels = clinical_labels(data)
    result = pipeline.analyze([data / CLINICAL / p for p in CLINICAL_PATIENTS])
    pairs = slices_of(result)
    rows = [labels[str(Path(s.source).resolve())] for _, s in pairs]
    pred = [s.positive for _, s in pairs]
    scores = [s.lesion_probability for _, s in pairs]
    out: dict[str, Any] = {"n_slices": len(pairs), "patients": {}}
    rocs = {}
    for target in ("infection", "covid_image"):
        truth = [r[target] == "1" for r in rows]
        roc = compute_roc(scores, truth)
        rocs[f"per slice, {target}"] = roc.points()
        out[f"per_slice_{target}"] = confusion_table(ConfusionCounts.from_predictions(pred, truth))
        out[f"per_slice_{target}_auc"] = roc.auc
    for p in result.patients:
        own = [(r, s) for r, (pid, s) in zip(rows, pairs, strict=True) if pid == p.patient_id]
        diagnosis = own[0][0]["diagnosis"]
        out["patients"][p.patient_id] = {
            "diagnosis": diagnosis,
            "called_positive": p.positive,
            "slices": len(own),
            "slices_with_infection": sum(r["infection"] == "1" for r, _ in own),
            "slices_called_positive": sum(s.positive for _, s in own),
            "right_for_lesions": p.positive == _has_lesions(diagnosis),
        }
    out.update(clinical_patient_tables(out["patients"]))
    if roc_png is not None:
        plot_roc(rocs, roc_png, "COVID-CT-MD clinical series: slices with lesions")
    out["measured_on"] = (
        "COVID-CT-MD sample (3 clinical patients, compressed HU DICOM; validation set: checkpoint, thresholds and "
        "rules chosen on it), never trained on"
    )
    return out


def lidc(pipeline: Pipeline, data: Path) -> dict[str, Any]:
    """LIDC-IDRI-0003 (no COVID, kept out of all training): slices called positive, the patient call."""
    result = pipeline.analyze([data / "lidc_idri_ct_dicom_c2c" / sources.LIDC_TEST_PATIENT])
    pairs = slices_of(result)
    with_lung = [s for _, s in pairs if s.lung_box is not None]
    return {
        "n_slices": len(pairs),
        "n_slices_with_lung": len(with_lung),
        "slices_called_positive": sum(s.positive for _, s in pairs),
        "false_positive_slice_share": sum(s.positive for _, s in pairs) / max(len(pairs), 1),
        "patient_called_positive": result.patients[0].positive,
        "measured_on": "LIDC-IDRI-0003 (70 slices, real HU DICOM, non-COVID), never trained on",
    }


def ct_angel(pipeline: Pipeline, data: Path) -> dict[str, Any]:
    """CT-Angel's own published images (another hospital, W1200/L-700 JPEGs): the labelled pair and the sample."""
    root = data / "ct_angel_seed_samples"
    image = next((root / "images").glob("*.jpg"))
    sample = next((root / "sample").glob("*.jpg"))
    sink = MaskCollector()
    result = pipeline.analyze([image, sample], sink=sink)
    calls = {Path(s.source).name: s.positive for _, s in slices_of(result)}
    truth = read_label(next((root / "labels").glob("*.jpg")), LABEL_THRESHOLD)
    seg = SegmentationMetric()
    seg.update(sink.masks[str(image)], truth)
    return {
        "calls": calls,
        "labelled_pair_segmentation": seg.aggregate().to_dict(),
        "measured_on": "CT-Angel's published training pair and sample (Renmin Hospital), never trained on",
    }


def phantom(pipeline: Pipeline) -> dict[str, Any]:
    """The synthetic phantom (64 slices, 6 lesions at known places)."""
    from ctangel.synthetic import make_phantom, write_phantom

    ph = make_phantom(64, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        files = write_phantom(ph, Path(tmp))
        sink = MaskCollector()
        result = pipeline.analyze([files.series_dir], sink=sink)
        pairs = slices_of(result)
        truth_any = [bool(ph.lesion_mask[s.index].any()) for _, s in pairs]
        seg = SegmentationMetric()
        for _, s in pairs:
            seg.update(sink.masks[s.source], ph.lesion_mask[s.index])
    return {
        "per_slice": confusion_table(ConfusionCounts.from_predictions([s.positive for _, s in pairs], truth_any)),
        "segmentation": seg.aggregate().to_dict(),
        "patient_called_positive": result.patients[0].positive,
        "measured_on": "ctangel's synthetic phantom (seed 0, 64 slices), never trained on",
    }


def lung_agreement(pipeline: Pipeline, datasets: Path) -> dict[str, Any]:
    """The lung stage against the classical lung masks of held-back slices (IoU of masks and boxes)."""
    examples = load_examples(datasets / "lung", "test")
    groups = {
        "LIDC-IDRI-0003 (3-D classical masks)": [e for e in examples if e.name.startswith("lidc")],
        "MedSeg test (classical + lesion masks)": [e for e in examples if e.name.startswith("medseg")],
        "UCSD test patients (classical 2-D masks)": [e for e in examples if e.name.startswith("ucsd")],
    }
    out = {
        name: validate_lung(pipeline.lung_model, exs, pipeline.settings) | {"n": len(exs)}
        for name, exs in groups.items()
    }
    for v in out.values():
        v.pop("score", None)
    return {"groups": out, "measured_on": "the test folders of `ctangel prepare`"}


def pct(p: dict[str, Any]) -> str:
    if p.get("value") is None:
        return "n/a"
    if not p.get("ci95"):
        return f"{100 * p['value']:.2f}%"
    lo, hi = p["ci95"]
    return f"{100 * p['value']:.2f}% ({100 * lo:.1f}–{100 * hi:.1f})"


def table_row(name: str, t: dict[str, Any]) -> str:
    c = t["counts"]
    cells = [pct(t[k]) for k in ("sensitivity", "specificity", "accuracy", "ppv", "npv")]
    return f"| {name} | " + " | ".join(cells) + f" | {c['tp']}/{c['fp']}/{c['tn']}/{c['fn']} |"


def settings_text(st: dict[str, Any]) -> str:
    """The decision settings in one line."""
    if not st:
        return "CT-Angel's defaults (W1200/L-700, p > 0.5, lesions > 25 px at 512x512)"
    text = (
        f"W{st['window_width']:g}/L{st['window_level']:g}, p > {st['lesion_threshold']:g}, lesions > "
        f"{st['min_lesion_area_px_at_512']:g} px at 512x512"
    )
    if st.get("lesion_lung_margin_mm", 0) > 0:
        text += f", lesions counted within {st['lesion_lung_margin_mm']:g} mm of the lung mask"
    if st.get("lung_3d"):
        text += ", one 3-D lung mask per series"
    if st.get("auto_orient"):
        text += ", images turned a quarter analysed upright"
    return text


def f3(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def markdown(doc: dict[str, Any]) -> str:
    m = doc["meta"]
    lines = [
        "# ctangel accuracy",
        "",
        f"- date: {m['date']}; commit: {m['commit']}; ctangel {m['version']}",
        f"- machine: {m['machine']}; wall time of this run: {m['wall_s']:.0f} s",
        f"- models: lung `{m['models']['lung']['name']}` ({m['models']['lung']['sha256'][:12]}), "
        f"lesion `{m['models']['lesion']['name']}` ({m['models']['lesion']['sha256'][:12]})",
        f"- settings: {settings_text(m.get('settings', {}))}; patient rule: {m['rule']}",
        "- lesion model trained on: " + m.get("trained_on", TRAINED_ON)["lesion"],
        "- lung model trained on: " + m.get("trained_on", TRAINED_ON)["lung"],
        "",
    ]
    s = doc["sections"]
    if "medseg" in s:
        lines += ["## MedSeg test split (48 slices, Inf-Net's split; never trained on)", ""]
        lines += [
            "| orientation | mean Dice | mean IoU | pooled Dice | pixel Sen. | pixel Spec. "
            "| GT lesion px outside valid region |"
        ]
        lines += ["|---|---|---|---|---|---|---|"]
        for key in ("medseg", "medseg_as_stored"):
            if key in s:
                g = s[key]["segmentation"]["mean_over_lesion_slices"]
                pooled = s[key]["segmentation"]["pooled_over_all_pixels"]
                lines.append(
                    f"| {s[key]['orientation']} | {f3(g['dice'])} | {f3(g['iou'])} "
                    f"| {f3(pooled['dice'])} | "
                    f"{f3(g['sensitivity'])} | {f3(g['specificity'])} | "
                    f"{100 * s[key]['truth_lesion_px_outside_valid_region_share']:.2f}% |"
                )
        lines += [
            "",
            "Published on exactly this split (Inf-Net's EvaluateResults): Semi-Inf-Net 0.739, Inf-Net 0.682, "
            "UNet++ 0.581 mean Dice.",
            "",
        ]
    header = "| | Sensitivity | Specificity | Accuracy | PPV | NPV | TP/FP/TN/FN |\n|---|---|---|---|---|---|---|"
    if "ucsd" in s:
        u = s["ucsd"]
        lines += [
            f"## UCSD COVID-CT test patients ({u['n_images']} images, {u['n_patients']} patients; never trained on)",
            "",
        ]
        lines += [header, table_row("Per image", u["per_image"]), table_row("Per patient", u["per_patient"]), ""]
        lines += [
            f"AUC per image {f3(u['per_image_auc'])}, per patient {f3(u['per_patient_auc'])} "
            f"(ROC curves: `{doc['meta'].get('name', 'accuracy')}_ucsd_roc.png`).",
            "",
        ]
    if "clinical" in s:
        c = s["clinical"]
        lines += [
            f"## COVID-CT-MD clinical series ({c['n_slices']} slices of 3 patients; validation set, never trained on)",
            "",
            "Chosen on this set: the lesion checkpoint, the thresholds and the patient rule (so these figures are "
            "optimistic for unseen hospitals).",
            "",
            header,
            table_row("Per slice, any pneumonia lesion", c["per_slice_infection"]),
            table_row("Per slice, COVID-19 lesion", c["per_slice_covid_image"]),
            table_row("Per patient, lesions present", c["per_patient_lesions"]),
            table_row("Per patient, COVID-19", c["per_patient_covid"]),
            "",
            f"AUC per slice: any lesion {f3(c['per_slice_infection_auc'])}, COVID-19 lesion "
            f"{f3(c['per_slice_covid_image_auc'])} (ROC: `{doc['meta'].get('name', 'accuracy')}_clinical_roc.png`).",
            "",
            "| patient | diagnosis | slices | with infection | called positive | patient call |",
            "|---|---|---|---|---|---|",
        ]
        for pid, v in c["patients"].items():
            lines.append(
                f"| {pid} | {v['diagnosis']} | {v['slices']} | {v['slices_with_infection']} | "
                f"{v['slices_called_positive']} | {'POSITIVE' if v['called_positive'] else 'negative'} |"
            )
        lines.append("")
    if "lidc" in s:
        d = s["lidc"]
        lines += ["## LIDC-IDRI-0003 (real HU DICOM, no COVID; kept out of all training)", ""]
        lines += [
            f"{d['slices_called_positive']} of {d['n_slices']} slices called positive "
            f"({100 * d['false_positive_slice_share']:.1f}%); patient called "
            f"{'POSITIVE (false positive)' if d['patient_called_positive'] else 'negative (correct)'}.",
            "",
        ]
    if "ct_angel" in s:
        c = s["ct_angel"]
        g = c["labelled_pair_segmentation"]["mean_over_lesion_slices"]
        lines += ["## CT-Angel's own images (another hospital; never trained on)", ""]
        lines += [
            f"Calls: {', '.join(f'{k}: {v}' for k, v in c['calls'].items())}; Dice on the labelled image "
            f"{f3(g['dice'])}.",
            "",
        ]
    if "phantom" in s:
        p = s["phantom"]
        lines += ["## Synthetic phantom (64 slices, 6 lesions)", "", header, table_row("Per slice", p["per_slice"]), ""]
        lines += [
            f"Mean Dice over lesion slices {f3(p['segmentation']['mean_over_lesion_slices']['dice'])}; patient called "
            f"{'positive' if p['patient_called_positive'] else 'negative'}.",
            "",
        ]
    if "lung" in s:
        lines += [
            "## Lung stage vs classical lung masks (held-back slices)",
            "",
            "| group | n | mask IoU | box IoU |",
            "|---|---|---|---|",
        ]
        for name, v in s["lung"]["groups"].items():
            lines.append(f"| {name} | {v['n']} | {f3(v['mask_iou'])} | {f3(v['box_iou'])} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared-data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--datasets", type=Path, default=REPO / "build" / "datasets")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--lung-model", default=None)
    parser.add_argument("--lesion-model", default=None)
    parser.add_argument("--sections", default="clinical,medseg,ucsd,lidc,ct_angel,phantom,lung")
    parser.add_argument("--name", default="accuracy", help="output file stem")
    args = parser.parse_args()
    if not args.shared_data.is_dir():
        sys.exit(f"{args.shared_data}: the public data is needed (../shared/data beside the checkout)")
    settings = AnalysisSettings(
        **{k: v for k, v in {"lung_model": args.lung_model, "lesion_model": args.lesion_model}.items() if v}
    )
    pipeline = Pipeline(settings)
    trained_on = {"lung": TRAINED_ON["lung"], "lesion": lesion_trained_on(pipeline)}
    wanted = args.sections.split(",")
    started = time.time()
    sections: dict[str, Any] = {}
    if "medseg" in wanted:
        sections["medseg"] = medseg(pipeline, args.shared_data, oriented=True)
        sections["medseg_as_stored"] = medseg(pipeline, args.shared_data, oriented=False)
    if "clinical" in wanted:
        args.out.mkdir(parents=True, exist_ok=True)
        sections["clinical"] = clinical(pipeline, args.shared_data, args.out / f"{args.name}_clinical_roc.png")
    if "ucsd" in wanted:
        args.out.mkdir(parents=True, exist_ok=True)
        sections["ucsd"] = ucsd(pipeline, args.shared_data, args.out / f"{args.name}_ucsd_roc.png")
    if "lidc" in wanted:
        sections["lidc"] = lidc(pipeline, args.shared_data)
    if "ct_angel" in wanted:
        sections["ct_angel"] = ct_angel(pipeline, args.shared_data)
    if "phantom" in wanted:
        sections["phantom"] = phantom(pipeline)
    if "lung" in wanted and (args.datasets / "lung" / "test_images").is_dir():
        sections["lung"] = lung_agreement(pipeline, args.datasets)
    for name, section in sections.items():
        section["trained_on"] = trained_on["lung" if name == "lung" else "lesion"] + section.pop("trained_on_extra", "")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    doc = {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": commit.stdout.strip() or "uncommitted",
            "version": __version__,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
            "models": pipeline.describe_models(),
            "rule": pipeline.rule.describe(),
            "settings": pipeline.settings.to_dict(),
            "wall_s": time.time() - started,
            "name": args.name,
            "trained_on": trained_on,
        },
        "sections": sections,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    write_markdown(args.out / f"{args.name}.json")


def write_markdown(json_path: Path) -> None:
    """(Re)write the Markdown beside a results JSON."""
    doc = json.loads(json_path.read_text())
    text = markdown(doc)
    json_path.with_suffix(".md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
