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
