"""Choose the lesion checkpoint and the slice rule (probability threshold, minimum lesion area) on clinical data.

Run: ``.venv/bin/python bench/choose_checkpoint.py MODEL_OR_SNAPSHOT... [--like CKPT]`` (needs ../shared/data).
Each model is run once over COVID-CT-MD's 3 clinical series (``covid_ct_md_val``: the validation set, never
trained on); for every slice and every threshold the largest lesion that touches the lung is kept, so that the
whole grid of thresholds x minimum areas is scored from one run. Per model: the per-slice AUC (any pneumonia
lesion) and, for each rule, sensitivity, specificity and Youden's index. Snapshots of a training run
(``step-NNNNN.snapshot``) are turned into checkpoints first (``--like``: a checkpoint of the same network).
Writes ``bench/results/choose_checkpoint.json`` and ``.md``.
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
from scipy import ndimage as ndi

from ctangel.inference import AnalysisSettings, Pipeline, SliceResult
from ctangel.inference.pipeline import SliceFindings
from ctangel.inference.postprocess import EIGHT_CONNECTED, lesion_zone
from ctangel.io.study import SlicePixels, Study
from ctangel.metrics.roc import compute_roc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from accuracy import CLINICAL, CLINICAL_PATIENTS, clinical_labels  # noqa: E402

THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)
MIN_AREAS = (10, 25, 50, 100, 200)


class LargestLesion:
    """A result sink that keeps, per slice and threshold, the largest lesion touching the grown lung."""

    def __init__(self, settings: AnalysisSettings) -> None:
        self.settings = settings
        self.largest: dict[str, list[int]] = {}
        self.score: dict[str, float] = {}

    def start_study(self, study: Study) -> None:
        pass

    def add_slice(self, study: Study, result: SliceResult, pixels: SlicePixels, f: SliceFindings) -> None:
        out = [0] * len(THRESHOLDS)
        self.score[result.source] = result.lesion_probability
        if f.probability is not None and f.lung_mask.any():
            spacing = None if study.pixel_area_mm2 is None else float(np.sqrt(study.pixel_area_mm2))
            scaled = self.settings.scaled_to(pixels.shape, spacing)
            allowed = lesion_zone(f.lung_mask, scaled.lesion_lung_margin_px)
            for k, t in enumerate(THRESHOLDS):
                labels, n = ndi.label(f.probability > t, structure=EIGHT_CONNECTED)
                if n == 0:
                    continue
                touching = np.unique(labels[allowed & (labels > 0)])
                if touching.size:
                    out[k] = int(np.bincount(labels.ravel())[touching].max())
        self.largest[result.source] = out

    def finish_study(self, study: Study, result: object) -> None:
        pass

    def fail_input(self, error: object) -> None:
        pass

    def finish(self, result: object) -> None:
        pass


def score_model(model: str, data: Path) -> dict[str, Any]:
    """Run one lesion model over the clinical series and score every rule of the grid."""
    settings = AnalysisSettings(lesion_model=model)
    pipeline = Pipeline(settings)
    sink = LargestLesion(settings)
    started = time.time()
    pipeline.analyze([data / CLINICAL / p for p in CLINICAL_PATIENTS], sink=sink)
    labels = clinical_labels(data)
    sources = sorted(sink.largest)
    truth = np.array([labels[str(Path(s).resolve())]["infection"] == "1" for s in sources])
    patient = np.array([labels[str(Path(s).resolve())]["patient"] for s in sources])
    largest = np.array([sink.largest[s] for s in sources])
    auc = compute_roc([sink.score[s] for s in sources], truth.tolist()).auc
    rules: list[dict[str, Any]] = []
    for k, t in enumerate(THRESHOLDS):
        for a in MIN_AREAS:
            pred = largest[:, k] > a
            sens = float((pred & truth).sum() / truth.sum())
            spec = float((~pred & ~truth).sum() / (~truth).sum())
            per_patient = {p: int(pred[patient == p].sum()) for p in CLINICAL_PATIENTS}
            rules.append(
                {"threshold": t, "min_area": a, "sensitivity": sens, "specificity": spec, "youden": sens + spec - 1}
                | {"positive_slices": per_patient}
            )
    rules.sort(key=lambda r: -r["youden"])
    return {"model": model, "auc": auc, "rules": rules, "wall_s": time.time() - started}


def write_markdown(doc: dict[str, Any], path: Path) -> None:
    """The Markdown table of a results document."""
    results = doc["results"]
    lines = [
        "# Choosing the lesion checkpoint and the slice rule on clinical validation data",
        "",
        f"- date: {doc['meta']['date']}; commit: {doc['meta']['commit']}; machine: {doc['meta']['machine']}",
        f"- data: {doc['meta']['data']}; per slice, any pneumonia lesion (`infection`)",
        "- a slice is positive when a lesion (probability over the threshold) touching the lung grown by the "
        "lesion margin holds more than the minimum area (pixels at 512x512)",
        "",
        "| model | AUC | best rule (p >, area >) | sensitivity | specificity | positive slices P002/cap002/normal002 "
        "| p > 0.35, area > 25 (shipped rule) | p > 0.5, area > 25 (CT-Angel) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        b = r["rules"][0]
        ct = next(x for x in r["rules"] if x["threshold"] == 0.5 and x["min_area"] == 25)
        ours = next(x for x in r["rules"] if x["threshold"] == 0.35 and x["min_area"] == 25)
        ps = "/".join(str(b["positive_slices"][p]) for p in CLINICAL_PATIENTS)
        lines.append(
            f"| `{Path(r['model']).name}` | {r['auc']:.3f} | {b['threshold']}, {b['min_area']} | "
            f"{b['sensitivity']:.3f} | {b['specificity']:.3f} | {ps} | "
            f"{ours['sensitivity']:.3f} / {ours['specificity']:.3f} | "
            f"{ct['sensitivity']:.3f} / {ct['specificity']:.3f} |"
        )
    best = max(results, key=lambda r: r["rules"][0]["youden"])
    at25 = max((x for x in best["rules"] if x["min_area"] == 25), key=lambda x: x["youden"])
    lines += [
        "",
        f"Highest Youden index of a model's best rule: `{Path(best['model']).name}` "
        f"({best['rules'][0]['youden']:.3f}); its best threshold at CT-Angel's 25-pixel minimum: p > "
        f"{at25['threshold']} (sensitivity {at25['sensitivity']:.3f}, specificity {at25['specificity']:.3f}).",
    ]
    for r in results:
        if r.get("run"):
            lines.append(f"\n`{Path(r['model']).name}`: {r['run']}")
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("models", nargs="+", help="registry names, checkpoints or training snapshots")
    parser.add_argument("--like", default=None, help="a checkpoint of the snapshots' network (for snapshots)")
    parser.add_argument("--shared-data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--name", default="choose_checkpoint")
    parser.add_argument("--merge", action="store_true", help="MODELS are results JSONs of earlier runs: merge them")
    args = parser.parse_args()
    if args.merge:
        merged: dict[str, Any] = {"meta": {}, "results": []}
        for path in args.models:
            part = json.loads(Path(path).read_text())
            merged["meta"] = part["meta"] | {"date": merged["meta"].get("date", part["meta"]["date"])}
            for r in part["results"]:
                r["run"] = f"measured {part['meta']['date']} at commit {part['meta']['commit']}"
                merged["results"].append(r)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{args.name}.json").write_text(json.dumps(merged, indent=2) + "\n")
        write_markdown(merged, args.out / f"{args.name}.md")
        return
    if not (args.shared_data / CLINICAL).is_dir():
        sys.exit(f"{args.shared_data / CLINICAL}: the clinical validation series are needed")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for m in args.models:
            model = m
            if m.endswith(".snapshot"):
                from ctangel.training.loop import checkpoint_from_snapshot

                if args.like is None:
                    sys.exit("--like is needed to read snapshots")
                model = str(Path(tmp) / (Path(m).stem + ".pt"))
                checkpoint_from_snapshot(m, args.like, model)
            r = score_model(model, args.shared_data)
            r["model"] = m
            results.append(r)
            best = r["rules"][0]
            print(
                f"{m}: AUC {r['auc']:.3f}; best rule p > {best['threshold']}, area > {best['min_area']}: "
                f"sens {best['sensitivity']:.3f} spec {best['specificity']:.3f} {best['positive_slices']}",
                flush=True,
            )
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    doc: dict[str, Any] = {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": commit.stdout.strip(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "data": "covid_ct_md_val (3 clinical patients; validation only, never trained on)",
        },
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    write_markdown(doc, args.out / f"{args.name}.md")


if __name__ == "__main__":
    main()
