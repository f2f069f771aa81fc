from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ctangel.errors import WeightsError
from ctangel.models.checkpoint import Checkpoint, InputSpec, load_checkpoint, sha256_file
from ctangel.models.network import NetworkConfig, build_network
from ctangel.models.registry import load_model
from ctangel.models.runtime import OnnxRunner, TorchRunner, export_onnx

TINY = NetworkConfig(features=(4, 4, 8, 8, 16, 4))


def tiny_checkpoint(task: str = "lesion") -> Checkpoint:
    torch.manual_seed(0)
    net = build_network(TINY)
    spec = InputSpec(side=32, crop="lung_box", margin=0.1)
    return Checkpoint(task, TINY, spec, net.state_dict(), {"note": "test"})  # type: ignore[arg-type]


def test_checkpoint_rebuilds_itself(tmp_path: Path) -> None:
    ckpt = tiny_checkpoint()
    sha = ckpt.save(tmp_path / "m.pt")
    assert sha == sha256_file(tmp_path / "m.pt")
    back = load_checkpoint(tmp_path / "m.pt", sha)
    assert back.network == TINY and back.input == ckpt.input and back.meta == {"note": "test"}
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        np.testing.assert_allclose(ckpt.build()(x)[-1].numpy(), back.build()(x)[-1].numpy())


def test_bad_weights_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    tiny_checkpoint().save(path)
    with pytest.raises(WeightsError, match="sha256"):
        load_checkpoint(path, "0" * 64)
    with pytest.raises(WeightsError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(WeightsError, match="lung model"):
        load_model(str(path), "lung", backend="torch")


def test_onnx_matches_torch(tmp_path: Path) -> None:
    ckpt = tiny_checkpoint()
    onnx_path = export_onnx(ckpt, tmp_path / "m.onnx")
    batch = np.random.default_rng(0).random((3, 32, 32), dtype=np.float32)
    a = TorchRunner.from_checkpoint(ckpt)(batch)
    b = OnnxRunner(onnx_path, threads=1)(batch)
    assert a.shape == b.shape == (3, 32, 32)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_load_model_exports_a_user_checkpoint_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTANGEL_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "m.pt"
    sha = tiny_checkpoint().save(path)
    model = load_model(str(path), "lesion", backend="onnx", threads=1)
    assert (tmp_path / "cache" / "onnx" / f"{sha}.onnx").is_file()
    assert model.describe()["sha256"] == sha
    out = model.runner(np.zeros((2, 32, 32), np.float32))
    assert out.shape == (2, 32, 32)


def test_a_pruned_checkpoint_runs_its_head_on_both_backends(tmp_path: Path) -> None:
    import dataclasses

    full = tiny_checkpoint()
    pruned = dataclasses.replace(full, network=dataclasses.replace(TINY, head=3))
    batch = np.random.default_rng(1).random((2, 32, 32), dtype=np.float32)
    x = torch.from_numpy(batch).unsqueeze(1)
    with torch.no_grad():
        head3 = torch.sigmoid(full.build(deep_supervision=True)(x)[2])[:, 0].numpy()
    np.testing.assert_allclose(TorchRunner.from_checkpoint(pruned)(batch), head3, atol=1e-6)
    onnx_path = export_onnx(pruned, tmp_path / "p.onnx")
    runner = OnnxRunner(onnx_path, threads=1)
    np.testing.assert_allclose(runner(batch), head3, atol=1e-5)
    assert runner.checkpoint().network.head == 3  # the export says which head it runs


def test_onnx_runner_splits_a_batch_between_single_threaded_sessions(tmp_path: Path) -> None:
    onnx_path = export_onnx(tiny_checkpoint(), tmp_path / "m.onnx")
    one, two = OnnxRunner(onnx_path, threads=1), OnnxRunner(onnx_path, threads=2)
    assert len(two.singles) == 2 and not one.singles
    for n in (1, 2, 5):  # 1: the two-thread session; 2 and 5: split, 5 unevenly
        batch = np.random.default_rng(n).random((n, 32, 32), dtype=np.float32)
        np.testing.assert_allclose(two(batch), one(batch), atol=1e-6)


def test_shipped_pruned_entry_shares_the_checkpoint_of_the_whole_network() -> None:
    from ctangel.models.registry import MODELS

    whole, pruned = MODELS["lesion-unetpp-v2"], MODELS["lesion-unetpp-v2-x03"]
    assert pruned.checkpoint == whole.checkpoint and pruned.sha256 == whole.sha256 and pruned.head == 3
    model = load_model("lesion-unetpp-v2-x03", "lesion", backend="onnx", threads=1)
    assert model.checkpoint.network.head == 3
    assert model.describe()["network"]["head"] == 3  # type: ignore[index]
