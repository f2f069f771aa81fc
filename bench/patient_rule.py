"""Choose the patient rule's defaults on training and validation data only (never on test data).

Run: ``.venv/bin/python bench/patient_rule.py`` (needs ../shared/data). Writes ``bench/results/patient_rule.md``
and ``.json``.

Patients used (none from a test split):

* COVID-19: the 20 volumes of Ma et al. (18 patients; 1,600 slices, every slice analysed) and the UCSD
  COVID-19 validation patients;
* not COVID-19: LIDC-IDRI-0001 (133 slices, a lesion-model training negative) and the UCSD non-COVID
  validation patients.

The rule is "at least K positive slices (all slices when a study has fewer) holding at least A lesion pixels
at 512x512 in all". The grid point with the highest Youden index (sensitivity + specificity - 1), pooled
over both groups with each group weighted equally, wins; ties go to the smaller K, then the smaller A.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ctangel.inference import AnalysisSettings, PatientResult, Pipeline
from ctangel.inference.decisions import PatientRule
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
    res = pipeline.analyze(volumes)
    out += [("Ma et al. COVID-19 volumes", True, p) for p in res.patients]
    val = [r for r in sources.read_ucsd_split() if r["split"] == "val"]
    res = pipeline.analyze(
        [
            image_study([str(data / "ucsd_covid_ct" / r["file"])], r["patient_id"], patient_id=r["patient_id"])
            for r in val
        ]
    )
    out += [("UCSD validation patients", p.patient_id.startswith("COVID:"), p) for p in res.patients]
    res = pipeline.analyze([data / "lidc_idri_ct_dicom_c2c" / sources.LIDC_TRAIN_PATIENT])
    out += [("LIDC-IDRI-0001", False, p) for p in res.patients]
    return out


def evaluate(patients: list[tuple[str, bool, PatientResult]], rule: PatientRule) -> dict[str, Any]:
    tp = fp = tn = fn = 0
    for _, truth, p in patients:
        call = rule([s for st in p.studies for s in st.slices])
        tp += call and truth
        fp += call and not truth
        tn += (not call) and (not truth)
        fn += (not call) and truth
    sens = tp / max(tp + fn, 1)
    spec = tn / max(tn + fp, 1)
    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn, "sensitivity": sens, "specificity": spec, "youden": sens + spec - 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared-data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--lesion-model", default=None)
    args = parser.parse_args()
    settings = AnalysisSettings(**({"lesion_model": args.lesion_model} if args.lesion_model else {}))
    pipeline = Pipeline(settings)
    patients = collect(pipeline, args.shared_data)
    grid = []
    for k in GRID_K:
        for a in GRID_A:
            grid.append({"k": k, "a": a, **evaluate(patients, PatientRule(k, a))})
    best = max(grid, key=lambda g: (round(g["youden"], 9), -g["k"], -g["a"]))
    lines = [
        "# Patient rule: chosen on training and validation patients",
        "",
        f"- date: {datetime.now(UTC).isoformat(timespec='seconds')}; lesion model "
        f"`{pipeline.lesion_model.name}` ({pipeline.lesion_model.sha256[:12]})",
        f"- patients: {sum(t for _, t, _ in patients)} COVID-19, {sum(not t for _, t, _ in patients)} not "
        "(Ma et al. volumes, UCSD validation patients, LIDC-IDRI-0001; no test patient)",
        f"- chosen: K = {best['k']} positive slices, A = {best['a']} lesion px at 512x512 "
        f"(sensitivity {best['sensitivity']:.3f}, specificity {best['specificity']:.3f})",
        "",
        "| K | A | sensitivity | specificity | Youden | TP/FP/TN/FN |",
        "|---|---|---|---|---|---|",
    ]
    for g in grid:
        lines.append(
            f"| {g['k']} | {g['a']} | {g['sensitivity']:.3f} | {g['specificity']:.3f} | {g['youden']:.3f} "
            f"| {g['tp']}/{g['fp']}/{g['tn']}/{g['fn']} |"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "patient_rule.md").write_text("\n".join(lines) + "\n")
    (args.out / "patient_rule.json").write_text(json.dumps({"grid": grid, "best": best}, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
