"""Do the speed-ups change any call? Every slice's call, with the shipped defaults against a reference.

Run: ``.venv/bin/python bench/speed_calls.py [--reference-lung M] [--reference-lesion M]`` (needs
../shared/data). The reference is the pipeline as it was before issue 10's speed-ups: the whole networks
``lung-unetpp-v1`` and ``lesion-unetpp-v2`` (or the models named). Both pipelines read the same inputs:

* COVID-CT-MD's 3 clinical series (``covid_ct_md_val``: the validation set; compressed HU DICOM; per-slice
  radiologists' labels): per-slice sensitivity and specificity (any pneumonia lesion) of each, and the AUC;
* MedSeg's 48 test slices, upright (never trained on);
* LIDC-IDRI-0003 (70 slices, no COVID; never trained on).

For each input set: slices whose call (positive or not) differs, the patient calls, and the largest change
of a slice's lesion probability. Writes ``bench/results/speed_calls.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from accuracy import CLINICAL, CLINICAL_PATIENTS, clinical_labels, one_image  # noqa: E402
from ctangel.constants import LESION_V2_PROBABILITY_THRESHOLD  # noqa: E402
from ctangel.inference import AnalysisResult, AnalysisSettings, Pipeline  # noqa: E402
from ctangel.io.study import DisplayTransform, Study  # noqa: E402
from ctangel.metrics.confusion import ConfusionCounts  # noqa: E402
from ctangel.metrics.roc import compute_roc  # noqa: E402
from ctangel.training import sources  # noqa: E402

REFERENCE = {"lung": "lung-unetpp-v1", "lesion": "lesion-unetpp-v2"}


def inputs(data: Path) -> dict[str, list[Path] | list[Study]]:
    """The validation inputs, by name."""
    medseg = data / "medseg_covid100_infnet" / "test" / "images"
    return {
        "clinical (covid_ct_md_val, 3 series)": [data / CLINICAL / p for p in CLINICAL_PATIENTS],
        "MedSeg test (48 slices, upright)": [
            one_image(p, "medseg", DisplayTransform(transpose=True))
            for p in sorted(medseg.glob("*.jpg"), key=lambda p: int(p.stem))
        ],
        "LIDC-IDRI-0003 (70 slices)": [data / "lidc_idri_ct_dicom_c2c" / sources.LIDC_TEST_PATIENT],
    }


def run(pipeline: Pipeline, what: list[Path] | list[Study]) -> tuple[AnalysisResult, float]:
    started = time.perf_counter()
    studies = [w for w in what if isinstance(w, Study)]
    result = pipeline.analyze_studies(studies) if studies else pipeline.analyze(what)  # type: ignore[arg-type]
    return result, time.perf_counter() - started


def per_slice(result: AnalysisResult) -> dict[str, tuple[bool, float]]:
    return {
        s.source: (s.positive, s.lesion_probability) for p in result.patients for st in p.studies for s in st.slices
    }


def clinical_scores(result: AnalysisResult, data: Path) -> dict[str, float | None]:
    labels = clinical_labels(data)
    pairs = per_slice(result)
    truth = [labels[str(Path(src).resolve())]["infection"] == "1" for src in pairs]
    pred = [pos for pos, _ in pairs.values()]
    rates = ConfusionCounts.from_predictions(pred, truth).rates()
    return {
        "sensitivity": rates["sensitivity"].value,
        "specificity": rates["specificity"].value,
        "auc": compute_roc([p for _, p in pairs.values()], truth).auc,
    }


def compare(ref: AnalysisResult, new: AnalysisResult) -> dict[str, Any]:
    a, b = per_slice(ref), per_slice(new)
    changed = sorted(src for src in a if a[src][0] != b[src][0])
    return {
        "n_slices": len(a),
        "positive_reference": sum(p for p, _ in a.values()),
        "positive_new": sum(p for p, _ in b.values()),
        "changed_calls": len(changed),
        "changed_sources": [Path(s).name for s in changed],
        "max_probability_change": max((abs(a[s][1] - b[s][1]) for s in a), default=0.0),
        "patients_reference": {p.patient_id: p.positive for p in ref.patients},
        "patients_new": {p.patient_id: p.positive for p in new.patients},
    }


def markdown(doc: dict[str, Any]) -> str:
    m = doc["meta"]
    lines = [
        "# Do the speed-ups change any call?",
        "",
        f"- date: {m['date']}; commit: {m['commit']}; machine: {m['machine']}",
        f"- reference: `{m['reference']['lung']}` + `{m['reference']['lesion']}`, lesion p > "
        f"{m['reference']['lesion_threshold']}, patient rule K, A = {m['reference']['patient_rule']} (the defaults "
        f"before the speed-ups); new: the defaults, `{m['new']['lung']}` + `{m['new']['lesion']}`, lesion p > "
        f"{m['new']['lesion_threshold']}, patient rule {m['new']['patient_rule']}",
        "- data: validation sets only (covid_ct_md_val: checkpoints, thresholds and rules are chosen on it), "
        "MedSeg's test split and LIDC-IDRI-0003 (never trained on)",
        "",
        "| input | slices | positive (reference / new) | slices whose call changed | largest change of a slice's "
        "lesion probability | patient calls (reference / new) | seconds (reference / new) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in doc["inputs"].items():
        pr = "; ".join(f"{k} {v}" for k, v in r["patients_reference"].items())
        pn = "; ".join(f"{k} {v}" for k, v in r["patients_new"].items())
        pats = pr if pr == pn else f"{pr} / {pn}"
        lines.append(
            f"| {name} | {r['n_slices']} | {r['positive_reference']} / {r['positive_new']} | {r['changed_calls']} "
            f"| {r['max_probability_change']:.3f} | {pats} | {r['seconds_reference']:.1f} / {r['seconds_new']:.1f} |"
        )
    c = doc["clinical"]
    lines += [
        "",
        "Clinical per slice (any pneumonia lesion): reference sensitivity "
        f"{c['reference']['sensitivity']:.3f} / specificity {c['reference']['specificity']:.3f} (AUC "
        f"{c['reference']['auc']:.3f}); new {c['new']['sensitivity']:.3f} / {c['new']['specificity']:.3f} (AUC "
        f"{c['new']['auc']:.3f}).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared-data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--reference-lung", default=REFERENCE["lung"])
    parser.add_argument("--reference-lesion", default=REFERENCE["lesion"])
    parser.add_argument("--reference-lesion-threshold", type=float, default=LESION_V2_PROBABILITY_THRESHOLD)
    parser.add_argument(
        "--reference-patient-rule",
        default="5,3000",
        help="K,A of the reference's patient rule (K positive slices holding A lesion px at 512x512; before: 5,3000)",
    )
    parser.add_argument("--lung-model", default=None, help="the new pipeline's lung model (default: the default)")
    parser.add_argument("--lesion-model", default=None, help="the new pipeline's lesion model")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--name", default="speed_calls")
    args = parser.parse_args()
    if not (args.shared_data / CLINICAL).is_dir():
        sys.exit(f"{args.shared_data / CLINICAL}: the clinical validation series are needed")
    chosen = {"lung_model": args.lung_model, "lesion_model": args.lesion_model}
    new_settings = AnalysisSettings(**{k: v for k, v in chosen.items() if v})
    k, a = (float(x) for x in args.reference_patient_rule.split(","))
    ref_settings = AnalysisSettings(
        lung_model=args.reference_lung,
        lesion_model=args.reference_lesion,
        lesion_threshold=args.reference_lesion_threshold,
        patient_min_positive_slices=int(k),
        patient_min_lesion_area_px_at_512=a,
    )
    reference, new = Pipeline(ref_settings), Pipeline(new_settings)
    doc: dict[str, Any] = {"inputs": {}, "clinical": {}}
    for name, what in inputs(args.shared_data).items():
        ref_result, ref_s = run(reference, what)
        new_result, new_s = run(new, what)
        doc["inputs"][name] = compare(ref_result, new_result) | {"seconds_reference": ref_s, "seconds_new": new_s}
        if name.startswith("clinical"):
            doc["clinical"] = {
                "reference": clinical_scores(ref_result, args.shared_data),
                "new": clinical_scores(new_result, args.shared_data),
            }
        print(name, {k: v for k, v in doc["inputs"][name].items() if k != "changed_sources"}, flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    doc["meta"] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit.stdout.strip(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "reference": {
            "lung": args.reference_lung,
            "lesion": args.reference_lesion,
            "lesion_threshold": args.reference_lesion_threshold,
            "patient_rule": [ref_settings.patient_min_positive_slices, ref_settings.patient_min_lesion_area_px_at_512],
        },
        "new": {
            "lung": new_settings.lung_model,
            "lesion": new_settings.lesion_model,
            "lesion_threshold": new_settings.lesion_threshold,
            "patient_rule": [new_settings.patient_min_positive_slices, new_settings.patient_min_lesion_area_px_at_512],
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    text = markdown(doc)
    (args.out / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
