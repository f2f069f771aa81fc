"""Load test of the web service: many clients upload a study at the same moment; every job must finish,
and finish in the order the uploads arrived (first in, first out).

Starts ``ctangel serve`` as a subprocess on a free port with a fresh data folder, the shipped models when
they are installed (else tiny untrained ones: the plumbing is real, the answers are not), then runs the
clients on threads, one HTTP client each, released together by a barrier. Prints a Markdown summary and
writes it to ``bench/results/load_test.md``.

Usage::

    .venv/bin/python bench/load_test.py [--clients 20] [--slices 8] [--threads N] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

ROOT: Final = Path(__file__).resolve().parents[1]
DEFAULT_OUT: Final = ROOT / "bench" / "results" / "load_test.md"
TOKEN: Final = "load-test-token-0123456789"
#: Tiny stand-in networks when no shipped weights are installed.
TINY_FEATURES: Final = (4, 4, 8, 8, 16, 4)
TINY_SIDE: Final = 32
START_TIMEOUT_S: Final = 120.0
POLL_S: Final = 0.25
#: A job not finished this long after the uploads is counted as lost.
JOB_TIMEOUT_S: Final = 1800.0


@dataclass
class Upload:
    """One client's upload and what became of it."""

    client: int
    sent_at: float = 0.0
    status_code: int = 0
    job_id: str | None = None
    job: dict[str, Any] | None = None
    error: str | None = None


def models(folder: Path) -> tuple[str, str, str, str]:
    """``(lung, lesion, backend, description)``: the shipped models if installed, else tiny ones in ``folder``."""
    from ctangel.models.registry import DEFAULT_MODELS, MODELS, weights_dir

    entries = [MODELS[DEFAULT_MODELS["lung"]], MODELS[DEFAULT_MODELS["lesion"]]]
    if all((weights_dir() / e.checkpoint).is_file() for e in entries):
        names = ", ".join(e.name for e in entries)
        return entries[0].name, entries[1].name, "onnx", f"shipped models ({names}), ONNX Runtime"

    from ctangel.models.checkpoint import write_untrained_pair

    paths = [str(p) for p in write_untrained_pair(folder, TINY_FEATURES, TINY_SIDE)]
    description = (
        f"tiny untrained models (UNet++ features {TINY_FEATURES}, {TINY_SIDE} px; shipped weights are not "
        "installed), torch"
    )
    return paths[0], paths[1], "torch", description


def phantom_zip(n_slices: int, folder: Path) -> bytes:
    """The synthetic phantom (512 x 512 DICOM CT) as a zip of its series folder."""
    from ctangel.synthetic import make_phantom, write_phantom

    files = write_phantom(make_phantom(n_slices, seed=0), folder / "phantom")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in files.dicom_files:
            zf.write(f, f"phantom/{f.name}")
    return buf.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(args: list[str], log: Path, base: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CTANGEL_TOKEN": TOKEN}
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited (code {proc.returncode}); see {log}")
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit(f"the server did not answer within {START_TIMEOUT_S} s; see {log}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run_client(base: str, study: bytes, upload: Upload, barrier: threading.Barrier) -> None:
    """Upload at the barrier's release, then poll the job until it ends."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base, headers=headers, timeout=300) as client:
        barrier.wait()
        upload.sent_at = time.time()
        try:
            response = client.post("/api/studies", files={"file": (f"study-{upload.client:02d}.zip", study)})
        except httpx.HTTPError as exc:
            upload.error = f"upload failed: {exc}"
            return
        upload.status_code = response.status_code
        if response.status_code != 202:
            upload.error = f"upload answered {response.status_code}: {response.text[:200]}"
            return
        upload.job_id = response.json()["job_id"]
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while time.monotonic() < deadline:
            job = client.get(f"/api/jobs/{upload.job_id}").json()
            if job["status"] in ("done", "failed"):
                upload.job = job
                return
            time.sleep(POLL_S)
        upload.error = f"job {upload.job_id} did not finish within {JOB_TIMEOUT_S} s"


def epoch(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


def summary(uploads: list[Upload], wall_s: float, setup: dict[str, str]) -> str:
    jobs = [u for u in uploads if u.job is not None]
    done = [u for u in jobs if u.job and u.job["status"] == "done"]
    failed = [u for u in jobs if u.job and u.job["status"] == "failed"]
    lost = [u for u in uploads if u.job is None]
    latencies = sorted(epoch(u.job["finished"]) - u.sent_at for u in jobs if u.job)
    by_arrival = sorted(jobs, key=lambda u: epoch(u.job["created"]) if u.job else 0.0)
    finished = [epoch(u.job["finished"]) for u in by_arrival if u.job]
    started = [epoch(u.job["started"]) for u in by_arrival if u.job]
    in_order = finished == sorted(finished) and started == sorted(started)
    rows = [
        ("uploads accepted (202)", f"{sum(u.status_code == 202 for u in uploads)} / {len(uploads)}"),
        ("jobs done", str(len(done))),
        ("jobs failed", str(len(failed))),
        ("jobs lost (no final status)", str(len(lost))),
        ("total wall time", f"{wall_s:.1f} s"),
    ]
    if latencies:
        rows += [
            ("latency, upload to result: median", f"{statistics.median(latencies):.1f} s"),
            ("latency, upload to result: max", f"{latencies[-1]:.1f} s"),
            ("time running, per job: median", f"{_median_run(jobs):.2f} s"),
        ]
    rows.append(("completion order = arrival order (FIFO)", "yes" if in_order else "NO"))
    machine = f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    lines = [
        "# Load test: concurrent uploads to `ctangel serve`",
        "",
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {machine}",
        f"- models: {setup['models']}",
        f"- server: 1 worker process (the default), threads per model: {setup['threads']}",
        f"- study: {setup['study']}",
        f"- clients: {len(uploads)}, each with its own HTTP connection, all released at once by a barrier",
        "",
        "| measure | value |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in rows],
    ]
    problems = [u.error for u in uploads if u.error] + [
        f"job {u.job_id}: {u.job['error']}" for u in failed if u.job is not None
    ]
    if problems:
        lines += ["", "Problems:", "", *[f"- {p}" for p in problems]]
    lines += [
        "",
        "Latency runs from the moment a client starts its upload to its job's `finished` time. With one worker",
        "the jobs queue, so the last to arrive waits for all those before it.",
        "",
    ]
    return "\n".join(lines)


def _median_run(jobs: list[Upload]) -> float:
    return statistics.median(epoch(u.job["finished"]) - epoch(u.job["started"]) for u in jobs if u.job)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument("--slices", type=int, default=8, help="slices of the phantom each client uploads")
    parser.add_argument("--threads", type=int, default=None, help="threads per model (default: all cores)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the Markdown summary goes")
    args = parser.parse_args()
    ctangel = Path(sys.executable).parent / "ctangel"
    if not ctangel.is_file():
        raise SystemExit(f"{ctangel} is absent: run `make setup` first")
    with tempfile.TemporaryDirectory(prefix="ctangel-load-") as tmp:
        folder = Path(tmp)
        lung, lesion, backend, description = models(folder)
        study = phantom_zip(args.slices, folder)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [
            str(ctangel), "serve", "--port", str(port), "--data-dir", str(folder / "data"),
            "--lung-model", lung, "--lesion-model", lesion, "--backend", backend, "--log-level", "warning",
        ]  # fmt: skip
        if args.threads is not None:
            command += ["--threads", str(args.threads)]
        server = start_server(command, folder / "serve.log", base)
        try:
            uploads = [Upload(client=k) for k in range(args.clients)]
            barrier = threading.Barrier(args.clients)
            threads = [
                threading.Thread(target=run_client, args=(base, study, u, barrier), name=f"client-{u.client}")
                for u in uploads
            ]
            started = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.monotonic() - started
        finally:
            stop_server(server)
    setup = {
        "models": description,
        "threads": "all cores" if args.threads is None else str(args.threads),
        "study": f"synthetic phantom, {args.slices} DICOM CT slices of 512 x 512, {len(study) / 1e6:.1f} MB zipped",
    }
    text = summary(uploads, wall, setup)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    ok = all(u.job is not None and u.job["status"] == "done" for u in uploads) and "| yes |" in text
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
