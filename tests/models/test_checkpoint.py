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
