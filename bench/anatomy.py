"""Right/left lung and per-lobe lesion calls measured against radiologists' per-slice lobe labels.

Run: ``.venv/bin/python bench/anatomy.py`` (needs ../shared/data). Analyses the three COVID-CT-MD series
(validation data: nothing is chosen or tuned here) with the shipped models and ``regions_method = lobes``,
writes the run under ``build/bench-anatomy/`` and the figures to ``bench/results/anatomy.md`` and ``.json``;
``--from-results build/bench-anatomy/results.json`` recounts without analysing again.

Per slice (every labelled slice of the three patients): "lesion in the left lung" is the model's left-lung
lesion pixels > 0 against LUL or LLL labelled; the same for the right lung (RUL, RML, RLL). Per lobe-slice:
the model's lesion pixels in the estimated lobe > 0 against that lobe's label, pooled over the five lobes
and per lobe. Lobes are estimated from the lung's shape alone (see ``ctangel.anatomy.regions``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CTANGEL_SHARED_DATA", REPO.parent / "shared" / "data")) / "covid_ct_md_val"
OUT = REPO / "build" / "bench-anatomy"
RESULTS = REPO / "bench" / "results"
SERIES = ("P002", "cap002", "normal002")
LOBES = ("RUL", "RML", "RLL", "LUL", "LLL")
SIDES = {"right": ("RUL", "RML", "RLL"), "left": ("LUL", "LLL")}


def run_analysis(out: Path) -> Path:
    """Analyse the three series once with the shipped models; the results.json path."""
    from ctangel.inference import Pipeline
    from ctangel.report import OutputWriter

    pipeline = Pipeline()
    writer = OutputWriter(out, pipeline.settings.window, overlays="none", regions="lobes")
    pipeline.analyze([DATA / s for s in SERIES], sink=writer)
    return writer.results_path


def counts(pairs: list[tuple[bool, bool]]) -> dict[str, Any]:
    """Confusion counts, sensitivity, specificity and agreement of (truth, call) pairs."""
    tp = sum(t and p for t, p in pairs)
    fn = sum(t and not p for t, p in pairs)
    fp = sum(p and not t for t, p in pairs)
    tn = sum(not t and not p for t, p in pairs)
    n = len(pairs)
    return {
        "n": n,
        "tp": tp,
        "fn": fn,
        "fp": fp,
        "tn": tn,
        "sensitivity": None if tp + fn == 0 else round(tp / (tp + fn), 3),
        "specificity": None if tn + fp == 0 else round(tn / (tn + fp), 3),
        "agreement": None if n == 0 else round((tp + tn) / n, 3),
    }


def measure(results: Path) -> dict[str, Any]:
    """Pairs of label and call per slice, per side and per lobe."""
    labels = {row["file"]: row for row in csv.DictReader((DATA / "labels.csv").open(encoding="utf-8"))}
    doc = json.loads(results.read_text(encoding="utf-8"))
    side_pairs: dict[str, list[tuple[bool, bool]]] = {s: [] for s in (*SIDES, "any")}
    lobe_pairs: dict[str, list[tuple[bool, bool]]] = {k: [] for k in LOBES}
    per_patient: dict[str, dict[str, list[tuple[bool, bool]]]] = {}
    methods, splits = set(), []
    for patient in doc["patients"]:
        for study in patient["studies"]:
            anatomy = study["anatomy"]
            methods.add(anatomy["regions_method"])
            splits.append(anatomy["lung_split"])
            by_side, by_region = anatomy["slices"], anatomy["slices"]["lesion_px_by_region"]
            for s in study["slices"]:
                key = "/".join(Path(s["source"]).parts[-2:])
                row = labels.get(key)
                if row is None:
                    continue
                i = s["index"]
                mine = per_patient.setdefault(row["patient"], {"left": [], "right": []})
                for side, lobes in SIDES.items():
                    pair = (any(row[f"lobe_{k}"] == "1" for k in lobes), by_side[f"lesion_px_{side}"][i] > 0)
                    side_pairs[side].append(pair)
                    mine[side].append(pair)
                side_pairs["any"].append((row["infection"] == "1", s["lesion_area_px"] > 0))
                for k in LOBES:
                    lobe_pairs[k].append((row[f"lobe_{k}"] == "1", by_region[k][i] > 0))
    pooled = [p for k in LOBES for p in lobe_pairs[k]]
    shares = {}
    for patient in doc["patients"]:
        for study in patient["studies"]:
            total = sum(r["lung_px"] for r in study["anatomy"]["regions"]) or 1
            shares[patient["patient_id"]] = {
                r["key"]: round(r["lung_px"] / total, 3) for r in study["anatomy"]["regions"]
            }
    return {
        "regions_method": sorted(methods),
        "lung_split": splits,
        "per_slice_side": {s: counts(p) for s, p in side_pairs.items()},
        "per_slice_side_by_patient": {
            pid: {s: counts(p) for s, p in sides.items()} for pid, sides in per_patient.items()
        },
        "per_lobe_slice_pooled": counts(pooled),
        "per_lobe_slice": {k: counts(p) for k, p in lobe_pairs.items()},
        "lobe_share_of_lung_volume": shares,
    }


def _fmt(c: dict[str, Any]) -> str:
    def f(v: object) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    return (
        f"| {c['n']} | {c['tp']} | {c['fn']} | {c['fp']} | {c['tn']} | {f(c['sensitivity'])} "
        f"| {f(c['specificity'])} | {f(c['agreement'])} |"
    )


def write_markdown(figures: dict[str, Any], meta: dict[str, Any], path: Path) -> None:
    """bench/results/anatomy.md."""
    head = (
        "| | slices | TP | FN | FP | TN | sensitivity | specificity | agreement |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    lines = [
        "# Right/left lung and lobes against radiologists (COVID-CT-MD, validation data)",
        "",
        f"Measured {meta['date']} on {meta['machine']}; ctangel {meta['version']}, shipped models, "
        f"regions_method {', '.join(figures['regions_method'])} (lobes estimated from lung shape, no fissures); "
        f"lungs split by: {', '.join(figures['lung_split'])}.",
        "Series: P002 (COVID-19, 133 slices), cap002 (other pneumonia, 66 slices, every 2nd), normal002 "
        '(84 slices, every 2nd). A call is "lesion pixels > 0" in that lung or lobe on that slice.',
        "",
        "## Per slice: lesion in the right / left lung",
        "",
        "The first row is the slice call itself (any kept lesion against the radiologists' infection label): "
        "it bounds what the per-lung and per-lobe calls can reach.",
        "",
        head,
        *(
            f"| {'any lesion (infection label)' if s == 'any' else s + ' lung'}, all patients " + _fmt(c)
            for s, c in figures["per_slice_side"].items()
        ),
        *(
            f"| {s} lung, {pid} " + _fmt(c)
            for pid, sides in figures["per_slice_side_by_patient"].items()
            for s, c in sides.items()
        ),
        "",
        "## Per lobe-slice",
        "",
        head,
        "| pooled (5 lobes) " + _fmt(figures["per_lobe_slice_pooled"]),
        *(f"| {k} " + _fmt(c) for k, c in figures["per_lobe_slice"].items()),
        "",
        "## Share of the lung volume per estimated lobe",
        "",
        "Each lobe's lung voxels over both lungs' (no labels involved). Anatomically the lower lobes hold about "
        "a quarter each; here they come out smaller, which the fixed fissure plane explains (see "
        "`OBLIQUE_FISSURE_*` in `ctangel.constants`).",
        "",
        "| patient | " + " | ".join(LOBES) + " |",
        "|---" * (len(LOBES) + 1) + "|",
        *(
            f"| {pid} | " + " | ".join(f"{share.get(k, 0):.3f}" for k in LOBES) + " |"
            for pid, share in figures["lobe_share_of_lung_volume"].items()
        ),
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    """Analyse (or reuse a run) and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-results", type=Path, default=None, help="results.json of an earlier run")
    args = parser.parse_args()
    from ctangel import __version__

    results = args.from_results or run_analysis(OUT)
    figures = measure(results)
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "version": __version__,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "anatomy.json").write_text(json.dumps({**meta, **figures}, indent=2) + "\n", encoding="utf-8")
    write_markdown(figures, meta, RESULTS / "anatomy.md")
    print((RESULTS / "anatomy.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
