"""The long fuzz run: the property tests of the readers and the upload path with many cases each.

Runs ``tests/io/test_fuzz_readers.py`` and ``tests/service/test_fuzz_upload.py`` under pytest with
``CTANGEL_FUZZ_EXAMPLES`` cases per test (hypothesis; random, seeded), counts the cases each reader really ran,
and writes a Markdown summary to ``bench/results/fuzz.md``: cases per reader, failures, peak memory, time.

Usage::

    .venv/bin/python bench/fuzz.py [--examples 10000] [--seed 0] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = ["tests/io/test_fuzz_readers.py", "tests/service/test_fuzz_upload.py"]
#: What each counted reader is, for the table.
READERS = {
    "dicom": "DICOM: header fields, elements deleted, pixel data resized or float, transfer syntax changed, bytes",
    "nifti": "NIfTI-1 (.nii and .nii.gz): dims, datatype, vox_offset, scl_slope, pixdim, sform; bytes",
    "png": "PNG (8-bit and 16-bit): bytes (chunk lengths, sizes, compressed data)",
    "jpeg": "JPEG: bytes (markers, lengths, sizes, entropy data)",
    "upload-zip": "upload of a zip: nasty entry names (.., absolute, deep, long, NUL, duplicates), mutated entries, "
    "bytes",
    "upload-files": "upload of 1-3 files (mutated DICOM, NIfTI, PNG) under nasty names",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000, help="cases per reader")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "fuzz.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        counts_file = Path(tmp) / "counts.json"
        env = {
            **os.environ,
            "CTANGEL_FUZZ_EXAMPLES": str(args.examples),
            "CTANGEL_FUZZ_COUNTS": str(counts_file),
            "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
        }
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:logging",
            "--disable-warnings",
            "-rf",
            f"--hypothesis-seed={args.seed}",
            *TESTS,
        ]
        started = time.perf_counter()
        proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        counts = json.loads(counts_file.read_text()) if counts_file.is_file() else {}
    tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
    print(tail)
    text = report(args, counts, seconds, proc.returncode, tail)
    args.out.write_text(text)
    print(text)
    return proc.returncode


def report(args: argparse.Namespace, counts: dict[str, int], seconds: float, code: int, tail: str) -> str:
    peak = counts.pop("peak_rss_bytes", 0)
    lines = [
        "# Fuzz run: the readers and the upload path on mutated inputs",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        f"- command: `python bench/fuzz.py --examples {args.examples} --seed {args.seed}` (`make fuzz`)",
        "- property: each case ends in a result or one error naming the file (`InputError`; `UploadError` with a 4xx "
        "at upload), never another exception; the process's peak memory stays under 3 GiB",
        f"- outcome: {'all cases kept the property' if code == 0 else f'FAILED (pytest exit code {code})'}",
        f"- wall time: {seconds / 60:.1f} min; peak memory of the test process: {peak / 1024**2:.0f} MiB",
        "",
        "| reader | cases run | what is mutated |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {counts.get(name, 0)} | {what} |" for name, what in READERS.items()]
    lines += ["", "pytest's last lines:", "", "```", tail, "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
