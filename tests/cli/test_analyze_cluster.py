"""``ctangel analyze --scheduler`` / ``--workers``: the options (a cluster run itself: tests/distributed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ctangel.cli.main import app
from ctangel.errors import ConfigError

pytest.importorskip("distributed")


def test_a_scheduler_and_local_workers_together_are_refused(tmp_path: Path) -> None:
    where = ["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"]
    result = CliRunner().invoke(app, ["analyze", str(tmp_path), "--out", str(tmp_path / "o"), *where])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError) and "not both" in str(result.exception)
