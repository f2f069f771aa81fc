from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the checkout: the public data the real-data tests read."""
    path = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip("../shared/data is absent (public data staged beside the checkout); real-data tests skip")
    return path


SCHEMA = Path(__file__).resolve().parents[1].parent / "shared" / "results.schema.json"


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A lung and a lesion checkpoint of a tiny UNet++ with fresh weights: meaningless answers, real plumbing."""
    import torch

    from ctangel.models.checkpoint import Checkpoint, InputSpec
    from ctangel.models.network import NetworkConfig, build_network

    folder = tmp_path_factory.mktemp("tiny-models")
    torch.manual_seed(0)
    config = NetworkConfig(features=(4, 4, 8, 8, 16, 4))
    paths = []
    for task, spec in (
        ("lung", InputSpec(side=32, crop="whole")),
        ("lesion", InputSpec(side=32, crop="lung_box", margin=0.08)),
    ):
        path = folder / f"tiny-{task}.pt"
        Checkpoint(task, config, spec, build_network(config).state_dict()).save(path)  # type: ignore[arg-type]
        paths.append(path)
    return paths[0], paths[1]


@pytest.fixture
def results_schema() -> dict:
    """The results.json schema from ../shared (skips when absent)."""
    import json

    if not SCHEMA.is_file():
        pytest.skip("../shared/results.schema.json is absent; the schema check skips")
    return json.loads(SCHEMA.read_text())
