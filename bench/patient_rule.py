"""Choose the patient rule's defaults on training and validation data only (never on test data).

Run: ``.venv/bin/python bench/patient_rule.py`` (needs ../shared/data). Writes ``bench/results/patient_rule.md``
and ``.json``.

Patients used (none from a test split):

* COVID-19: the 20 volumes of Ma et al. (18 patients; 1,600 slices, every slice analysed) and the UCSD
  COVID-19 validation patients;
* not COVID-19: LIDC-IDRI-0001 (133 slices, a lesion-model training negative) and the UCSD non-COVID
  validation patients.

The rule is "at least K positive slices (all slices when a study has fewer) holding at least A lesion pixels
at 512x512 in all". K only matters for patients with several slices, and the volumes (20 COVID-19 volumes,
one non-COVID HU series) would be swamped by the 77 mostly one-image UCSD patients in a pooled count, so the
score of a grid point is the mean of two Youden indices (sensitivity + specificity - 1): one over the volume
patients (Ma et al., LIDC-IDRI-0001) and one over the UCSD patients. The highest score wins; ties go to the
smaller K, then the smaller A. Per-patient counts are kept in the JSON, so ``--from-json`` re-chooses without
analysing again.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ctangel.inference import AnalysisSettings, PatientResult, Pipeline
from ctangel.inference.decisions import PatientRule
from ctangel.inference.results import SliceResult
from ctangel.io.image import image_study
from ctangel.training import sources

REPO = Path(__file__).resolve().parents[1]
GRID_K = (1, 2, 3, 5, 8)
GRID_A = (0, 100, 300, 1000, 3000, 10000)


def collect(pipeline: Pipeline, data: Path) -> list[tuple[str, bool, PatientResult]]:
    """(group, truly COVID, result) per patient."""
    out: list[tuple[str, bool, PatientResult]] = []
    ma = data / "ma_covid19ctseg_slices_infnet"
    volumes = [
        image_study(
            [str(ma / r["file"]) for r in rows],
            str(ma),
            study_id=volume,
            patient_id=rows[0]["patient_id"],
            display=sources.ma_orientation(volume),
        )
        for volume, rows in sources.ma_volumes(data).items()
    ]
    res = pipeline.analyze_studies(volumes)
    out += [("Ma et al. COVID-19 volumes", True, p) for p in res.patients]
    val = [r for r in sources.read_ucsd_split() if r["split"] == "val"]
    res = pipeline.analyze_studies(
        [
            image_study([str(data / "ucsd_covid_ct" / r["file"])], r["patient_id"], patient_id=r["patient_id"])
            for r in val
        ]
    )
    out += [("UCSD validation patients", p.patient_id.startswith("COVID:"), p) for p in res.patients]
    res = pipeline.analyze([data / "lidc_idri_ct_dicom_c2c" / sources.LIDC_TRAIN_PATIENT])
    out += [("LIDC-IDRI-0001", False, p) for p in res.patients]
    return out


#: The group whose patients are volumes; the others are (mostly) single images.
VOLUME_GROUPS = ("Ma et al. COVID-19 volumes", "LIDC-IDRI-0001")


def evaluate(patients: list[tuple[str, bool, list[SliceResult]]], rule: PatientRule) -> dict[str, Any]:
    tp = fp = tn = fn = 0
    for _, truth, slices in patients:
        call = rule(slices)
        tp += call and truth
        fp += call and not truth
        tn += (not call) and (not truth)
        fn += (not call) and truth
    sens = tp / max(tp + fn, 1)
    spec = tn / max(tn + fp, 1)
    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn, "sensitivity": sens, "specificity": spec, "youden": sens + spec - 1}


def score(patients: list[tuple[str, bool, list[SliceResult]]], rule: PatientRule) -> dict[str, Any]:
    """Pooled counts, plus the mean of the volume patients' and the image patients' Youden indices."""
    volumes = evaluate([p for p in patients if p[0] in VOLUME_GROUPS], rule)
    images = evaluate([p for p in patients if p[0] not in VOLUME_GROUPS], rule)
    return {
        **evaluate(patients, rule),
        "youden_volumes": volumes["youden"],
        "youden_images": images["youden"],
        "score": (volumes["youden"] + images["youden"]) / 2,
    }


def to_json(patients: list[tuple[str, bool, list[SliceResult]]]) -> list[dict[str, Any]]:
    """What the rule needs of each patient: per slice the call, lesion area and image shape."""
    return [
        {"group": g, "covid": t, "slices": [[s.positive, s.lesion_area_px, list(s.shape)] for s in slices]}
        for g, t, slices in patients
    ]


def from_json(rows: list[dict[str, Any]]) -> list[tuple[str, bool, list[SliceResult]]]:
    out = []
    for r in rows:
        slices = [
            SliceResult(i, "", (shape[0], shape[1]), pos, 1.0 if pos else 0.0, area, 0, None, [])
            for i, (pos, area, shape) in enumerate(r["slices"])
        ]
        out.append((r["group"], r["covid"], slices))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared-data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--lesion-model", default=None)
    parser.add_argument("--from-json", type=Path, default=None, help="re-choose from an earlier run's JSON")
    args = parser.parse_args()
    if args.from_json:
        earlier = json.loads(args.from_json.read_text())
        patients = from_json(earlier["patients"])
        model = earlier["lesion_model"]
    else:
        settings = AnalysisSettings(**({"lesion_model": args.lesion_model} if args.lesion_model else {}))
        pipeline = Pipeline(settings)
        patients = [
            (g, t, [s for st in p.studies for s in st.slices]) for g, t, p in collect(pipeline, args.shared_data)
        ]
        model = f"`{pipeline.lesion_model.name}` ({pipeline.lesion_model.sha256[:12]})"
    grid = []
    for k in GRID_K:
        for a in GRID_A:
            grid.append({"k": k, "a": a, **score(patients, PatientRule(k, a))})
    best = max(grid, key=lambda g: (round(g["score"], 9), -g["k"], -g["a"]))
    lines = [
        "# Patient rule: chosen on training and validation patients",
        "",
        f"- date: {datetime.now(UTC).isoformat(timespec='seconds')}; lesion model {model}",
        f"- patients: {sum(t for _, t, _ in patients)} COVID-19, {sum(not t for _, t, _ in patients)} not "
        "(Ma et al. volumes, UCSD validation patients, LIDC-IDRI-0001; no test patient)",
        f"- chosen: K = {best['k']} positive slices, A = {best['a']} lesion px at 512x512 "
        f"(score {best['score']:.3f}: Youden {best['youden_volumes']:.3f} on the volumes, "
        f"{best['youden_images']:.3f} on the UCSD patients)",
        "",
        "| K | A | score | Youden, volumes | Youden, UCSD | pooled sensitivity | pooled specificity | TP/FP/TN/FN |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for g in grid:
        lines.append(
            f"| {g['k']} | {g['a']} | {g['score']:.3f} | {g['youden_volumes']:.3f} | {g['youden_images']:.3f} "
            f"| {g['sensitivity']:.3f} | {g['specificity']:.3f} "
            f"| {g['tp']}/{g['fp']}/{g['tn']}/{g['fn']} |"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    lines += [
        "",
        "Chosen rule per group:",
        "",
        "| group | patients | sensitivity | specificity | TP/FP/TN/FN |",
        "|---|---|---|---|---|",
    ]
    chosen = PatientRule(best["k"], best["a"])
    for group in dict.fromkeys(g for g, _, _ in patients):
        e = evaluate([p for p in patients if p[0] == group], chosen)
        n = e["tp"] + e["fp"] + e["tn"] + e["fn"]
        sens = f"{e['sensitivity']:.3f}" if e["tp"] + e["fn"] else "-"
        spec = f"{e['specificity']:.3f}" if e["tn"] + e["fp"] else "-"
        lines.append(f"| {group} | {n} | {sens} | {spec} | {e['tp']}/{e['fp']}/{e['tn']}/{e['fn']} |")
    (args.out / "patient_rule.md").write_text("\n".join(lines) + "\n")
    (args.out / "patient_rule.json").write_text(
        json.dumps({"lesion_model": model, "grid": grid, "best": best, "patients": to_json(patients)}, indent=2) + "\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
