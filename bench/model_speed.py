"""Milliseconds per slice of the shipped networks alone, by head and by how ONNX Runtime runs them.

Run: ``.venv/bin/python bench/model_speed.py`` (no data needed: random inputs of the models' grid size).
Writes ``bench/results/model_speed.md`` and ``.json``. For the lung model (128x128) and the lesion model
(256x256), the whole network (head ``x_0_4``) and its pruned ``x_0_3`` are timed on ONNX Runtime two ways:
one session with an intra-op thread per core, and one single-threaded session per core each taking its share
of the batch (what ``OnnxRunner`` does); batches of 2, 8 and 16.
Each cell is the median over rounds that go through every variant in turn, so a busy moment hits all alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ctangel.models.registry import MODELS, weights_dir
from ctangel.models.runtime import ONNX_INPUT, OnnxRunner

REPO = Path(__file__).resolve().parents[1]
PAIRS = {"lung": ("lung-unetpp-v1", "lung-unetpp-v1-x03"), "lesion": ("lesion-unetpp-v2", "lesion-unetpp-v2-x03")}
SIDES = {"lung": 128, "lesion": 256}
BATCHES = (2, 8, 16)
SLICES = 32


def time_once(run: Any, images: np.ndarray, batch: int) -> float:
    """Milliseconds per slice to run ``images`` in batches of ``batch``."""
    start = time.perf_counter()
    for i in range(0, len(images), batch):
        run(images[i : i + batch])
    return (time.perf_counter() - start) / len(images) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    variants: dict[str, Any] = {}
    for task, names in PAIRS.items():
        images = rng.random((SLICES, SIDES[task], SIDES[task]), dtype=np.float32)
        for name in names:
            runner = OnnxRunner(weights_dir() / MODELS[name].onnx)

            def one_session(x: np.ndarray, r: OnnxRunner = runner) -> Any:
                return r.session.run(None, {ONNX_INPUT: x[:, None]})

            for batch in BATCHES:
                variants[f"{name}|one session, {runner.threads} threads|{batch}"] = (one_session, images, batch)
                variants[f"{name}|{runner.threads} single-threaded sessions|{batch}"] = (runner, images, batch)
    for run, images, batch in variants.values():
        run(images[:batch])  # warm-up
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.rounds):
        for key, (run, images, batch) in variants.items():
            times[key].append(time_once(run, images, batch))
    rows: list[dict[str, Any]] = []
    for key, ts in times.items():
        name, mode, size = key.split("|")
        rows.append({"model": name, "mode": mode, "batch": int(size), "ms_per_slice": statistics.median(ts)})
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    doc: dict[str, Any] = {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": commit.stdout.strip(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
            "rounds": args.rounds,
            "slices": SLICES,
        },
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model_speed.json").write_text(json.dumps(doc, indent=2) + "\n")
    m = doc["meta"]
    lines = [
        "# The shipped networks alone: milliseconds per slice",
        "",
        f"- date: {m['date']}; commit: {m['commit']}; machine: {m['machine']}",
        f"- ONNX Runtime, random inputs, {SLICES} slices per timing, median of {args.rounds} interleaved rounds",
        "",
        "| model | how | " + " | ".join(f"batch {b}" for b in BATCHES) + " |",
        "|---|---|" + "---|" * len(BATCHES),
    ]
    for (name, mode), group in _grouped(rows).items():
        cells = " | ".join(f"{r['ms_per_slice']:.1f}" for r in sorted(group, key=lambda r: r["batch"]))
        lines.append(f"| `{name}` | {mode} | {cells} |")
    (args.out / "model_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _grouped(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault((r["model"], r["mode"]), []).append(r)
    return out


if __name__ == "__main__":
    main()
