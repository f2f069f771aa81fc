"""Measure each speed lever of the lesion model alone, with the accuracy it keeps (issue: fast on a CPU).

Run: ``.venv/bin/python bench/speed_levers.py`` (needs ../shared/data). Writes ``bench/results/speed_levers.md``
and ``.json``. For every variant of the shipped lesion model — eager torch fp32 (the reference), ONNX Runtime
fp32, the UNet++ pruned at head x_0_3 and x_0_2 (deep supervision trained every head), and int8 static
quantisation (QDQ, calibrated on MedSeg *train* crops) — it times a batch of 8 lung crops (median of several
runs) and measures on MedSeg's 48 test slices (never trained on) the mean Dice and how many slice calls
differ from the reference. A lever is worth keeping only within 0.01 Dice of the reference with <= 0.5% of
slice calls changed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from ctangel.constants import LABEL_THRESHOLD
from ctangel.inference import AnalysisSettings, Pipeline
from ctangel.inference.collect import MaskCollector
from ctangel.io.image import image_study, read_label
from ctangel.io.study import DisplayTransform
from ctangel.metrics.overlap import compute_dice
from ctangel.models.pruning import PrunedUNetPlusPlus
from ctangel.models.registry import LoadedModel
from ctangel.models.runtime import ONNX_INPUT, OnnxRunner, export_network_onnx
from ctangel.preprocessing import preprocess_slice

REPO = Path(__file__).resolve().parents[1]
BATCH = 8
RUNS = 7


def medseg_crops(pipeline: Pipeline, data: Path, split: str, n: int | None = None) -> list[npt.NDArray[np.float32]]:
    """Lesion-model inputs (lung crops) of MedSeg slices, as the pipeline makes them."""
    root = data / "medseg_covid100_infnet" / split / "images"
    turn = DisplayTransform(transpose=True)
    out = []
    for p in sorted(root.glob("*.jpg"))[:n]:
        pixels = image_study([str(p)], str(root), display=turn).read(0)
        (lung,) = pipeline.lung_stage([(pixels, "uint8")])
        crop = pipeline.lesion_stage.crop(pixels.shape, lung.box)
        out.append(preprocess_slice(pixels, "uint8", pipeline.settings.window, crop))
    return out


def time_runner(runner: Any, batch: npt.NDArray[np.float32]) -> float:
    runner(batch)
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        runner(batch)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) / len(batch)


def medseg_accuracy(pipeline: Pipeline, data: Path) -> tuple[float, list[bool]]:
    root = data / "medseg_covid100_infnet" / "test"
    images = sorted((root / "images").glob("*.jpg"), key=lambda p: int(p.stem))
    turn = DisplayTransform(transpose=True)
    sink = MaskCollector()
    result = pipeline.analyze_studies(
        [image_study([str(p)], str(p.parent), study_id=p.stem, display=turn) for p in images], sink=sink
    )
    dice = [
        compute_dice(sink.masks[str(p)], read_label(root / "mask_infection" / f"{p.stem}.png", LABEL_THRESHOLD))
        for p in images
    ]
    calls = [s.positive for pt in result.patients for st in pt.studies for s in st.slices]
    return float(np.mean(dice)), calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared-data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--lesion-model", default="lesion-unetpp-v2")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    base = Pipeline(AnalysisSettings(lesion_model=args.lesion_model, backend="torch"))
    ckpt = base.lesion_model.checkpoint
    side = ckpt.input.side
    net = ckpt.build(deep_supervision=True)
    batch = np.stack(medseg_crops(base, args.shared_data, "test", BATCH))
    rows: list[dict[str, Any]] = []
    ref_dice, ref_calls = medseg_accuracy(base, args.shared_data)
    rows.append(
        {
            "variant": "eager torch fp32 (reference)",
            "ms_per_slice": 1000 * time_runner(base.lesion_model.runner, batch),
            "mean_dice": ref_dice,
            "calls_changed": 0,
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        variants: dict[str, Path] = {
            "ONNX Runtime fp32": export_network_onnx(net, side, 1, Path(tmp) / "full.onnx"),
            "ONNX Runtime fp32, pruned at x_0_3": export_network_onnx(
                PrunedUNetPlusPlus(net, 3), side, 1, Path(tmp) / "l3.onnx"
            ),
            "ONNX Runtime fp32, pruned at x_0_2": export_network_onnx(
                PrunedUNetPlusPlus(net, 2), side, 1, Path(tmp) / "l2.onnx"
            ),
        }
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

        calib = medseg_crops(base, args.shared_data, "train", 32)

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self.items = iter([{ONNX_INPUT: c[None, None]} for c in calib])

            def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
                return next(self.items, None)

        q = Path(tmp) / "int8.onnx"
        quantize_static(
            str(variants["ONNX Runtime fp32"]),
            str(q),
            Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
        )
        variants["ONNX Runtime int8 (static, QDQ)"] = q
        for name, path in variants.items():
            runner = OnnxRunner(path)
            model = LoadedModel(name=name, sha256="", checkpoint=ckpt, runner=runner, backend="onnx")
            pipe = Pipeline(base.settings, lung_model=base.lung_model, lesion_model=model)
            dice, calls = medseg_accuracy(pipe, args.shared_data)
            rows.append(
                {
                    "variant": name,
                    "ms_per_slice": 1000 * time_runner(runner, batch),
                    "mean_dice": dice,
                    "calls_changed": int(np.sum(np.not_equal(calls, ref_calls))),
                }
            )
    ref_ms = rows[0]["ms_per_slice"]
    lines = [
        "# Lesion-model speed levers",
        "",
        f"- date: {datetime.now(UTC).isoformat(timespec='seconds')}; machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, {platform.platform()}",
        f"- model: `{base.lesion_model.name}` ({base.lesion_model.sha256[:12]}), {side}x{side} lung crops, "
        f"batches of {BATCH}, median of {RUNS} runs; accuracy on MedSeg's 48 test slices (never trained on)",
        "",
        "| variant | ms / slice | speed-up | mean Dice | slice calls changed (of 48) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['ms_per_slice']:.1f} | {ref_ms / r['ms_per_slice']:.2f}x | "
            f"{r['mean_dice']:.4f} | {r['calls_changed']} |"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speed_levers.md").write_text("\n".join(lines) + "\n")
    (args.out / "speed_levers.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
