"""Speed of ``ctangel analyze`` on a 300-slice 512x512 DICOM series, against a baseline measured in the same run.

Run: ``.venv/bin/python bench/speed.py`` (``--runs 3`` by default). Writes ``bench/results/speed.json`` and
``bench/results/speed.md``.

* Baseline: MONAI's BasicUNetPlusPlus with its default features (32, 32, 64, 128, 256, 32), eager torch,
  one 512x512 slice at a time (CT-Angel's lesion model ran on the whole 512x512 slice), timed on enough slices
  for a stable median; its seconds per 300-slice study are extrapolated from the median (lesion model only).
* ctangel: the ``ctangel analyze`` command itself, as a new process per run (start-up, reading and decoding,
  both stages, decisions, results.json, overlays, montage and report.html all included), on the synthetic
  phantom written with 300 slices, and on the LIDC-IDRI-0001 series (133 slices) when ../shared/data is there.
  Peak RSS is the child's own high-water mark, ``VmHWM`` of ``/proc/self/status`` (not ``ru_maxrss``: on Linux a
  child's ``ru_maxrss`` starts from its parent's peak at the fork, which made earlier runs of this script report
  this script's own memory, the baseline's torch included); the share of time per stage comes from
  results.json's ``timings_s``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BASELINE_FEATURES = (32, 32, 64, 128, 256, 32)
BASELINE_SIDE = 512
STUDY_SLICES = 300
#: glibc's malloc tuning (without it torch page-faults on every large CPU tensor); the Makefile sets it too.
GLIBC_TUNABLES = "glibc.malloc.mmap_threshold=17179869184:glibc.malloc.trim_threshold=17179869184"


def baseline_seconds_per_slice(n_slices: int) -> list[float]:
    """Per-slice seconds of the baseline network on 512x512 slices (after one warm-up slice)."""
    import torch
    from monai.networks.nets import BasicUNetPlusPlus

    torch.set_flush_denormal(True)
    torch.set_num_threads(os.cpu_count() or 1)
    net = BasicUNetPlusPlus(spatial_dims=2, in_channels=3, out_channels=1, features=BASELINE_FEATURES).eval()
    x = torch.rand(1, 3, BASELINE_SIDE, BASELINE_SIDE)
    times = []
    with torch.inference_mode():
        net(x)
        for _ in range(n_slices):
            t0 = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - t0)
    return times


def run_analyze(series: Path, out: Path, extra: list[str]) -> dict[str, Any]:
    """One ``ctangel analyze`` in a fresh process: wall seconds, the child's peak RSS and its stage timings."""
    env = {**os.environ, "GLIBC_TUNABLES": GLIBC_TUNABLES}
    code = (
        "import sys, json\n"
        "from ctangel.cli.main import main\n"
        "sys.argv = ['ctangel', 'analyze', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
        "hwm = next(x for x in open('/proc/self/status') if x.startswith('VmHWM:'))\n"
        "print('RSS_KB', int(hwm.split()[1]), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, str(series), "--out", str(out), *extra],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"ctangel analyze failed:\n{done.stderr[-2000:]}")
    rss_kb = int(next(line.split()[1] for line in done.stderr.splitlines() if line.startswith("RSS_KB")))
    results = json.loads((out / "results.json").read_text())
    n = sum(st["n_slices"] for p in results["patients"] for st in p["studies"])
    return {"wall_s": wall, "peak_rss_mib": rss_kb / 1024, "timings_s": results.get("timings_s", {}), "n_slices": n}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    wall = statistics.median(r["wall_s"] for r in runs)
    stages = {k: statistics.median(r["timings_s"].get(k, 0.0) for r in runs) for k in runs[0]["timings_s"]}
    inside = sum(stages.values())
    n = runs[0]["n_slices"]
    return {
        "n_slices": n,
        "runs": len(runs),
        "wall_s_median": wall,
        "wall_s_all": [round(r["wall_s"], 2) for r in runs],
        "slices_per_s": n / wall,
        "peak_rss_mib_max": max(r["peak_rss_mib"] for r in runs),
        "stage_s_median": stages,
        "startup_and_other_s": max(0.0, wall - inside),
    }


def markdown(doc: dict[str, Any]) -> str:
    m, b = doc["meta"], doc["baseline"]
    lines = [
        "# ctangel speed",
        "",
        f"- date: {m['date']}; commit: {m['commit']}; machine: {m['machine']}",
        f"- {m['note']}",
        "",
        "| path | slices | median wall (s) | slices/s | peak RSS (MiB) | per 300 slices (s) | speed-up vs baseline |",
        "|---|---|---|---|---|---|---|",
        f"| baseline: MONAI BasicUNetPlusPlus {list(BASELINE_FEATURES)}, eager torch, 512x512, lesion model only "
        f"| {b['n_slices']} timed | {b['s_per_slice_median']:.3f} s/slice | {1 / b['s_per_slice_median']:.2f} | – "
        f"| {b['s_per_slice_median'] * STUDY_SLICES:.1f} | 1.0x |",
    ]
    for name, s in doc["ctangel"].items():
        per300 = s["wall_s_median"] / s["n_slices"] * STUDY_SLICES
        ratio = b["s_per_slice_median"] * STUDY_SLICES / per300
        lines.append(
            f"| ctangel analyze, {name} | {s['n_slices']} | {s['wall_s_median']:.2f} | {s['slices_per_s']:.1f} "
            f"| {s['peak_rss_mib_max']:.0f} | {per300:.1f} | {ratio:.1f}x |"
        )
    lines += [
        "",
        "Share of wall time per stage (median of the runs). A chunk's post-processing and writing run in a thread "
        "while the models run on the next chunk, so stages overlap and the shares may add up to more than 100%; "
        "start-up+other is the wall time outside every stage (imports, loading the models, finding the files).",
        "",
    ]
    lines += ["| path | " + " | ".join(["start-up+other", "read", "lung", "lesion", "postprocess", "write"]) + " |"]
    lines += ["|---" * 7 + "|"]
    for name, s in doc["ctangel"].items():
        st, wall = s["stage_s_median"], s["wall_s_median"]
        cells = [s["startup_and_other_s"]] + [
            st.get(k, 0.0) for k in ("read", "lung", "lesion", "postprocess", "write")
        ]
        lines.append(f"| {name} | " + " | ".join(f"{100 * c / wall:.0f}% ({c:.2f} s)" for c in cells) + " |")
    if "memory" in doc:
        mem = doc["memory"]
        short = next(s for name, s in doc["ctangel"].items() if name.startswith("synthetic"))
        lines += [
            "",
            f"Memory against study length (one run): the {mem['n_slices']}-slice phantom peaked at "
            f"{mem['peak_rss_mib']:.0f} MiB RSS ({mem['wall_s']:.1f} s wall), the {short['n_slices']}-slice one at "
            f"{short['peak_rss_mib_max']:.0f} MiB.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline-slices", type=int, default=8)
    parser.add_argument("--shared-data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--extra", default="", help="extra options for ctangel analyze, e.g. '--backend torch'")
    parser.add_argument("--name", default="speed")
    parser.add_argument(
        "--memory-slices", type=int, default=2000, help="one more run on a phantom this long, for memory growth (0: no)"
    )
    args = parser.parse_args()
    extra = args.extra.split()
    base = baseline_seconds_per_slice(args.baseline_slices)
    doc: dict[str, Any] = {
        "baseline": {"n_slices": len(base), "s_per_slice_median": statistics.median(base), "s_all": base},
        "ctangel": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        from ctangel.synthetic import make_phantom, write_phantom

        series = {
            "synthetic phantom (300 slices, uncompressed)": write_phantom(
                make_phantom(STUDY_SLICES), Path(tmp) / "ph"
            ).series_dir
        }
        lidc = args.shared_data / "lidc_idri_ct_dicom_c2c" / "LIDC-IDRI-0001"
        if lidc.is_dir():
            series["LIDC-IDRI-0001 (133 slices)"] = lidc
        for name, path in series.items():
            runs = [run_analyze(path, Path(tmp) / f"out{i}", extra) for i in range(args.runs)]
            doc["ctangel"][name] = summarise(runs)
        if args.memory_slices:
            long = write_phantom(make_phantom(args.memory_slices), Path(tmp) / "long").series_dir
            run = run_analyze(long, Path(tmp) / "out-long", extra)
            doc["memory"] = {"n_slices": run["n_slices"], "peak_rss_mib": run["peak_rss_mib"], "wall_s": run["wall_s"]}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    doc["meta"] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit.stdout.strip() or "uncommitted",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "note": f"median of {args.runs} runs per input; baseline and ctangel measured in this same run",
        "rusage_self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    text = markdown(doc)
    (args.out / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
