from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_data import TINY, write_dataset

from ctangel.errors import ConfigError
from ctangel.models.checkpoint import InputSpec, load_checkpoint
from ctangel.models.network import NetworkConfig
from ctangel.training.augment import AugmentConfig
from ctangel.training.data import load_examples
from ctangel.training.loop import TrainConfig, checkpoint_from_snapshot, draw_batch, train


def config(task: str, data: Path, out: Path, **kw: object) -> TrainConfig:
    d = {
        "task": task,
        "data": data,
        "out": out,
        "network": TINY,
        "batch_size": 2,
        "max_steps": 3,
        "eval_every": 2,
        "warmup_steps": 1,
        "threads": 1,
        "seed": 3,
        "input": {"side": 32, "crop": "whole" if task == "lung" else "lung_box", "margin": 0.1},
    }
    d.update(kw)
    return TrainConfig.from_dict(d)


@pytest.fixture(scope="module")
def lung_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lung")
    write_dataset(root / "data", lesions=False)
    train(config("lung", root / "data", root / "lung.pt"))
    return root / "lung.pt"


def test_lung_training_writes_a_checkpoint_that_rebuilds(lung_checkpoint: Path) -> None:
    ckpt = load_checkpoint(lung_checkpoint)
    assert ckpt.task == "lung"
    assert ckpt.network == NetworkConfig.from_dict(TINY)
    assert ckpt.input == InputSpec(side=32, crop="whole", margin=0.1)
    assert ckpt.meta["steps"] == 3 and "mask_iou" in ckpt.meta["validation"]
    assert lung_checkpoint.with_suffix(".onnx").is_file()
    out = ckpt.build()(torch.zeros(1, 1, 32, 32))
    assert out[-1].shape == (1, 1, 32, 32)


def test_lesion_training_is_deterministic_and_resumes(tmp_path: Path, lung_checkpoint: Path) -> None:
    write_dataset(tmp_path / "data", lesions=True)
    a = train(config("lesion", tmp_path / "data", tmp_path / "a.pt", lung_model=str(lung_checkpoint)))
    b = train(config("lesion", tmp_path / "data", tmp_path / "b.pt", lung_model=str(lung_checkpoint)))
    for k in a.state_dict:
        torch.testing.assert_close(a.state_dict[k], b.state_dict[k])
    assert "mean_dice" in a.meta["validation"]
    # resume: the run folder's last.ckpt is at step 3; asking for 5 steps continues from there
    c = train(
        config(
            "lesion",
            tmp_path / "data",
            tmp_path / "a.pt",
            lung_model=str(lung_checkpoint),
            max_steps=5,
            resume=True,
        )
    )
    assert c.meta["steps"] == 5


def test_batches_mix_positives_and_split_over_ranks(tmp_path: Path) -> None:
    write_dataset(tmp_path / "data", lesions=True)
    examples = load_examples(tmp_path / "data", "train")
    cfg = config("lesion", tmp_path / "data", tmp_path / "x.pt", batch_size=4, positive_fraction=0.5)
    one = draw_batch(7, examples, cfg, world=1)
    two = draw_batch(7, examples, cfg, world=2)
    assert len(one) == 4 and len(two) == 8
    assert draw_batch(7, examples, cfg, world=2) == two  # every rank draws the same global batch
    many = [i for s in range(50) for i in draw_batch(s, examples, cfg, world=1)]
    share = np.mean([examples[i].positive for i in many])
    assert 0.35 < share < 0.65


def test_bad_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        TrainConfig.from_dict({"task": "lesion", "data": tmp_path, "out": tmp_path / "x.pt", "bogus": 1})
    with pytest.raises(ConfigError):
        TrainConfig(task="liver", data=tmp_path, out=tmp_path / "x.pt")  # type: ignore[arg-type]
    assert TrainConfig.from_dict(
        {"task": "lung", "data": tmp_path, "out": tmp_path / "x.pt", "augment": {"scale": [0.9, 1.1]}}
    ).augment == AugmentConfig(scale=(0.9, 1.1))


def test_snapshots_of_every_validation_become_checkpoints(tmp_path: Path, lung_checkpoint: Path) -> None:
    write_dataset(tmp_path / "data", lesions=True)
    cfg = config("lesion", tmp_path / "data", tmp_path / "lesion.pt", lung_model=str(lung_checkpoint), snapshots=True)
    train(cfg)
    assert cfg.work_dir is not None
    snaps = sorted(cfg.work_dir.glob("step-*.snapshot"))
    assert [p.name for p in snaps] == ["step-00002.snapshot", "step-00003.snapshot"]
    ckpt = checkpoint_from_snapshot(snaps[0], tmp_path / "lesion.pt", tmp_path / "chosen.pt", "a test")
    again = load_checkpoint(tmp_path / "chosen.pt")
    assert again.meta["snapshot_step"] == 2 and again.meta["snapshot_chosen_by"] == "a test"
    assert (tmp_path / "chosen.onnx").is_file()
    snap = torch.load(snaps[0], weights_only=True)["model"]
    assert all(torch.equal(snap[k], v) for k, v in ckpt.state_dict.items())
    with pytest.raises(ConfigError, match="not a training snapshot"):
        checkpoint_from_snapshot(tmp_path / "lesion.pt", tmp_path / "lesion.pt", tmp_path / "x.pt")
