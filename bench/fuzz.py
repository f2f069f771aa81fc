"""The long fuzz run: the property tests of the readers and the upload path with many cases each.

Runs each property test of ``tests/io/test_fuzz_readers.py`` and ``tests/service/test_fuzz_upload.py`` in its
own pytest process with ``CTANGEL_FUZZ_EXAMPLES`` cases (hypothesis; random, seeded) and, with ``--minutes``, a
share of a time budget (a test still running at the end of its share is stopped: its count is what it ran).
Writes a Markdown summary to ``bench/results/fuzz.md``: cases run per reader, failures, peak memory, time.

Usage::

    .venv/bin/python bench/fuzz.py [--examples 10000] [--minutes M] [--seed 0] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Each property test and the reader it counts under.
TESTS = {
    "dicom": "tests/io/test_fuzz_readers.py::test_dicom",
    "nifti": "tests/io/test_fuzz_readers.py::test_nifti",
    "png": "tests/io/test_fuzz_readers.py::test_png",
    "jpeg": "tests/io/test_fuzz_readers.py::test_jpeg",
    "upload-zip": "tests/service/test_fuzz_upload.py::test_zip_upload",
    "upload-files": "tests/service/test_fuzz_upload.py::test_file_upload",
}
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
#: Seconds a stopped test gets to write its counts and exit.
STOP_GRACE_S = 30


@dataclass
class Outcome:
    """How one property test's run ended."""

    code: int | None
    stopped: bool
    tail: str


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000, help="cases per reader")
    parser.add_argument("--minutes", type=float, default=None, help="time budget for the whole run (split evenly)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed")
    parser.add_argument("--readers", nargs="+", choices=sorted(TESTS), default=list(TESTS), help="readers to run")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "fuzz.md")
    args = parser.parse_args()
    share_s = None if args.minutes is None else args.minutes * 60 / len(args.readers)
    outcomes: dict[str, Outcome] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        counts_file = Path(tmp) / "counts.json"
        for reader in args.readers:
            outcomes[reader] = run_one(TESTS[reader], args, counts_file, share_s)
            print(f"{reader}: {'stopped at its time share' if outcomes[reader].stopped else 'finished'}", flush=True)
        counts = json.loads(counts_file.read_text()) if counts_file.is_file() else {}
    text = report(args, counts, outcomes, time.perf_counter() - started)
    args.out.write_text(text)
    print(text)
    return 0 if all(o.code == 0 or o.stopped for o in outcomes.values()) else 1


def run_one(test: str, args: argparse.Namespace, counts_file: Path, share_s: float | None) -> Outcome:
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
        "-p",
        "no:cacheprovider",
        "--disable-warnings",
        "-rf",
        f"--hypothesis-seed={args.seed}",
        test,
    ]
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stopped = False
    try:
        out, _ = proc.communicate(timeout=share_s)
    except subprocess.TimeoutExpired:
        stopped = True
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    lines = [line for line in out.strip().splitlines() if line.strip()]
    return Outcome(proc.returncode, stopped, "\n".join(lines[-6:]))


def report(args: argparse.Namespace, counts: dict[str, int], outcomes: dict[str, Outcome], seconds: float) -> str:
    peak = counts.pop("peak_rss_bytes", 0)
    failed = [r for r, o in outcomes.items() if o.code != 0 and not o.stopped]
    budget = "" if args.minutes is None else f" --minutes {args.minutes:g}"
    lines = [
        "# Fuzz run: the readers and the upload path on mutated inputs",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        f"- command: `python bench/fuzz.py --examples {args.examples}{budget} --seed {args.seed}"
        + ("" if list(args.readers) == list(TESTS) else f" --readers {' '.join(args.readers)}")
        + "`",
        "- property: each case ends in a result or one error naming the file (`InputError`; `UploadError` with a 4xx "
        "at upload), never another exception; the process's peak memory stays under 3 GiB",
        f"- outcome: {'FAILED: ' + ', '.join(failed) if failed else 'every case run kept the property'}",
        f"- wall time: {seconds / 60:.1f} min; peak memory of a test process: {peak / 1024**2:.0f} MiB",
        "",
        "| reader | cases run | asked | ended | what is mutated |",
        "|---|---|---|---|---|",
    ]
    for name, what in READERS.items():
        if name not in outcomes:
            continue
        o = outcomes[name]
        ended = "stopped at its time share" if o.stopped else ("passed" if o.code == 0 else f"failed ({o.code})")
        lines.append(f"| {name} | {counts.get(name, 0)} | {args.examples} | {ended} | {what} |")
    for name in failed:
        lines += ["", f"{name}, pytest's last lines:", "", "```", outcomes[name].tail, "```"]
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
