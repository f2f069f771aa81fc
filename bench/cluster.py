"""Throughput of ``ctangel analyze`` on a local Dask cluster: studies per minute with 1 and 2 workers.

Run: ``.venv/bin/python bench/cluster.py`` (``--studies 8 --slices 64 --runs 3`` by default). Writes
``bench/results/cluster.json`` and ``bench/results/cluster.md``.

An archive of ``--studies`` copies of the synthetic phantom (``--slices`` 512x512 DICOM slices each, one
patient each) is analysed with the shipped models by a ``LocalCluster`` of 1, then 2, worker processes of one
thread each, models on one thread (``ClusterOptions(workers=w, model_threads=1)``), into a fresh output folder
each run. Per run:

* ``analysis``: from the moment the tasks are planned to the last study in; studies per minute are
  measured over it (the cluster's start, the models' loading and discovery are excluded);
* ``total``: the whole call (cluster start, model loading on each worker, discovery, report included);
* per stage (read, lung, lesion, postprocess, write): worker seconds per slice, from results.json's
  ``timings_s`` (summed over workers); ``busy``: their sum over ``analysis x workers``; what is not busy is
  time a worker spent outside the pipeline (waiting for a task, scheduling, moving outputs, records).

``read`` is the time the pipeline waited for slices: each worker reads and decodes the next chunk in a
thread of its own while the models run, so one worker already keeps more than one core partly busy, and
decoding shows up in ``read`` only when it is slower than the models.

A stage whose seconds per slice grow from 1 to 2 workers is competing for the same cores or disk; where that
growth sits tells where the bottleneck moves. Medians over ``--runs`` runs are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
STAGES = ("read", "lung", "lesion", "postprocess", "write")
DEFAULT_STUDIES = 8
DEFAULT_SLICES = 64
DEFAULT_RUNS = 3
WORKER_COUNTS = (1, 2)
SECONDS_PER_MINUTE = 60.0


def one_run(archive: Path, out: Path, workers: int) -> dict[str, Any]:
    """Analyse ``archive`` on a fresh local cluster of ``workers`` processes; times and stage seconds."""
    from ctangel.distributed import ClusterObserver, ClusterOptions, analyze_on_cluster
    from ctangel.inference import AnalysisSettings

    marks: dict[str, float] = {}

    class Clock(ClusterObserver):
        def planned(self, studies: int, slices: int, done_studies: int, done_slices: int) -> None:
            marks["planned"] = time.perf_counter()

        def study(self, key: str, done: bool) -> None:
            marks["last_study"] = time.perf_counter()
            if not done:
                raise RuntimeError(f"study {key} failed; see the log")

    options = ClusterOptions(workers=workers, model_threads=1, dashboard_address=None)
    start = time.perf_counter()
    outcome = analyze_on_cluster([archive], out, AnalysisSettings(threads=1), cluster=options, observer=Clock())
    total = time.perf_counter() - start
    studies = sum(len(p.studies) for p in outcome.result.patients)
    slices = sum(len(s.slices) for p in outcome.result.patients for s in p.studies)
    analysis = marks["last_study"] - marks["planned"]
    stage_s = {k: outcome.result.timings.get(k, 0.0) for k in STAGES}
    return {
        "workers": workers,
        "studies": studies,
        "slices": slices,
        "total_s": round(total, 3),
        "analysis_s": round(analysis, 3),
        "studies_per_min": round(studies / analysis * SECONDS_PER_MINUTE, 3),
        "stage_ms_per_slice": {k: round(1000 * v / slices, 2) for k, v in stage_s.items()},
        "busy": round(sum(stage_s.values()) / (analysis * workers), 3),
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over runs of one worker count."""
    return {
        "workers": runs[0]["workers"],
        "runs": len(runs),
        "studies_per_min": statistics.median(r["studies_per_min"] for r in runs),
        "analysis_s": statistics.median(r["analysis_s"] for r in runs),
        "total_s": statistics.median(r["total_s"] for r in runs),
        "busy": statistics.median(r["busy"] for r in runs),
        "stage_ms_per_slice": {k: statistics.median(r["stage_ms_per_slice"][k] for r in runs) for k in STAGES},
    }


def machine() -> str:
    """CPU model, cores, OS."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}"


def markdown(doc: dict[str, Any]) -> str:
    """The results as a markdown page."""
    lines = [
        "# Cluster throughput (bench/cluster.py)",
        "",
        f"- date: {doc['date']}",
        f"- machine: {doc['machine']}",
        f"- commit: {doc['commit']}",
        f"- load average when the bench started (1, 5, 15 min): {doc['load_average']}",
        f"- archive: {doc['studies']} studies of {doc['slices']} phantom slices (512x512 DICOM), shipped models, "
        "ONNX Runtime, one thread per worker and per model",
        f"- runs per worker count: {doc['runs']} (medians below)",
    ]
    if doc["note"]:
        lines.append(f"- **note: {doc['note']}**")
    lines += [
        "",
        "| workers | studies/min | analysis s | total s | busy | " + " | ".join(f"{s} ms/slice" for s in STAGES) + " |",
        "|---|---|---|---|---|" + "---|" * len(STAGES),
    ]
    for s in doc["summary"]:
        stages = " | ".join(f"{s['stage_ms_per_slice'][k]:.1f}" for k in STAGES)
        lines.append(
            f"| {s['workers']} | {s['studies_per_min']:.2f} | {s['analysis_s']:.1f} | {s['total_s']:.1f} | "
            f"{s['busy']:.2f} | {stages} |"
        )
    if len(doc["summary"]) > 1:
        one, two = doc["summary"][0], doc["summary"][-1]
        speedup = two["studies_per_min"] / one["studies_per_min"]
        growth = {k: two["stage_ms_per_slice"][k] / max(one["stage_ms_per_slice"][k], 1e-9) for k in STAGES}
        lines += [
            "",
            f"Speed-up from {one['workers']} to {two['workers']} workers: {speedup:.2f}x.",
            "Worker seconds per slice, ratio of the two: "
            + ", ".join(f"{k} {growth[k]:.2f}x" for k in STAGES)
            + " (1.00x: the stage did not slow down when the workers ran side by side).",
            "",
        ]
    for s in doc["summary"]:
        total = sum(s["stage_ms_per_slice"].values()) or 1.0
        shares = sorted(((v / total, k) for k, v in s["stage_ms_per_slice"].items()), reverse=True)
        lines.append(
            f"Share of worker time with {s['workers']} worker(s): "
            + ", ".join(f"{k} {share:.0%}" for share, k in shares)
            + f"; the largest is where the time goes ({shares[0][1]})."
        )
    lines += [
        "",
        "`read` is waiting for slices (each worker decodes the next chunk in a thread while its models run).",
        "Each run's figures are in cluster.json.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Write the archive once, run every worker count ``--runs`` times, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=DEFAULT_STUDIES)
    parser.add_argument("--slices", type=int, default=DEFAULT_SLICES)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    parser.add_argument("--note", default="", help="a line for the results (such as: the CPU was shared)")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "cluster")
    args = parser.parse_args()

    from ctangel.synthetic.archive import write_phantom_archive

    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ctangel-bench-cluster-") as tmp:
        archive = Path(tmp) / "archive"
        write_phantom_archive(archive, studies=[1] * args.studies, slices=args.slices)
        for workers in WORKER_COUNTS:
            for k in range(args.runs):
                result = one_run(archive, Path(tmp) / f"out-{workers}-{k}", workers)
                print(json.dumps(result), file=sys.stderr)
                runs.append(result)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    doc = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "commit": commit.stdout.strip() or "unknown",
        "load_average": load,
        "studies": args.studies,
        "slices": args.slices,
        "runs": args.runs,
        "note": args.note,
        "summary": [summarise([r for r in runs if r["workers"] == w]) for w in WORKER_COUNTS],
        "all_runs": runs,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n")
    args.results.with_suffix(".md").write_text(markdown(doc))
    print(markdown(doc))


if __name__ == "__main__":
    main()
