from __future__ import annotations

import os
from pathlib import Path

import pytest

#: Names the shared data folder when it is not ``../shared/data`` beside the checkout (a worktree, CI).
SHARED_DATA_ENV = "CTANGEL_SHARED_DATA"


def shared_folder() -> Path:
    """``../shared`` beside the checkout, or the folder above ``$CTANGEL_SHARED_DATA``."""
    given = os.environ.get(SHARED_DATA_ENV)
    return Path(given).parent if given else Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (or ``$CTANGEL_SHARED_DATA``): the public data the real-data tests
    read."""
    path = shared_folder() / "data"
    if not path.is_dir():
        pytest.skip(f"{path} is absent (public data staged beside the checkout); real-data tests skip")
    return path


SCHEMA = shared_folder() / "results.schema.json"


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
        pytest.skip(f"{SCHEMA} is absent (the shared results schema); the schema check skips")
    return json.loads(SCHEMA.read_text())
