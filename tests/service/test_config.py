"""The access token: from the environment, else stored in the data folder (0600), made once."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ctangel.errors import ConfigError
from ctangel.service.config import TOKEN_ENV, ServiceConfig, load_or_create_token


def test_token_generated_once_with_mode_0600(tmp_path: Path) -> None:
    token, created = load_or_create_token(tmp_path / "data", environ={})
    assert created and len(token) >= 40
    path = tmp_path / "data" / "token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, created_again = load_or_create_token(tmp_path / "data", environ={})
    assert (again, created_again) == (token, False)


def test_token_from_environment_wins(tmp_path: Path) -> None:
    token, created = load_or_create_token(tmp_path, environ={TOKEN_ENV: "from-the-environment-123"})
    assert (token, created) == ("from-the-environment-123", False)
    assert not (tmp_path / "token").exists()


def test_short_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=TOKEN_ENV):
        load_or_create_token(tmp_path, environ={TOKEN_ENV: "short"})


def test_loose_token_file_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("a-token-someone-wrote-by-hand\n")
    path.chmod(0o644)
    assert load_or_create_token(tmp_path, environ={}) == ("a-token-someone-wrote-by-hand", False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_limits_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="workers"):
        ServiceConfig(data_dir=tmp_path, workers=0)
    assert ServiceConfig(data_dir=str(tmp_path)).data_dir == tmp_path  # type: ignore[arg-type]
