"""Data-parallel training: two processes on loopback (gloo), as `torchrun --nproc_per_node 2` runs them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_data import write_dataset

from ctangel.training.data import load_examples
from ctangel.training.loop import TrainConfig, draw_batch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_two_ranks_end_identical_and_share_the_batch(tmp_path: Path) -> None:
    write_dataset(tmp_path / "data", lesions=False)
    config = tmp_path / "train.toml"
    config.write_text(
        f"""
[lung]
data = "{tmp_path / "data"}"
out = "{tmp_path / "lung.pt"}"
batch_size = 2
max_steps = 3
eval_every = 3
warmup_steps = 1
threads = 1
seed = 5
[lung.network]
features = [4, 4, 8, 8, 16, 4]
[lung.input]
side = 32
crop = "whole"
"""
    )
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        "-m",
        "ctangel.cli.main",
        "train",
        "lung",
        "--config",
        str(config),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "lung.run"
    rank0 = torch.load(run / "rank0-final.pt", weights_only=True)
    rank1 = torch.load(run / "rank1-final.pt", weights_only=True)
    for k in rank0:
        torch.testing.assert_close(rank0[k], rank1[k], rtol=0, atol=0)
    # each step, the two ranks took disjoint halves of the same global batch of 2 x 2 samples
    cfg = TrainConfig.from_dict(tomllib_load(config)["lung"] | {"task": "lung"})
    examples = load_examples(tmp_path / "data", "train")
    logs = [[json.loads(line) for line in (run / f"rank{r}.jsonl").read_text().splitlines()] for r in (0, 1)]
    assert [e["step"] for e in logs[0]] == [0, 1, 2] == [e["step"] for e in logs[1]]
    for a, b in zip(*logs, strict=True):
        assert len(a["indices"]) == len(b["indices"]) == 2
        assert a["indices"] + b["indices"] == [int(i) for i in draw_batch(a["step"], examples, cfg, world=2)]
    meta = torch.load(tmp_path / "lung.pt", weights_only=True)["meta"]
    assert meta["world_size"] == 2 and meta["effective_batch_size"] == 4


def tomllib_load(path: Path) -> dict:
    import tomllib

    with open(path, "rb") as f:
        return tomllib.load(f)
