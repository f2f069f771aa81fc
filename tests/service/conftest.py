"""Fixtures for the service tests: tiny models, and one in-process server (real worker process) for the
API tests to share, so that a worker is spawned once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_studies import AUTH, MAX_UNZIPPED_BYTES, MAX_UPLOAD_BYTES, MAX_ZIP_FILES, TOKEN, tiny_checkpoints

from ctangel.inference import AnalysisSettings
from ctangel.service import ServiceConfig, create_app


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A fresh lung and lesion checkpoint of a tiny network (meaningless answers, real plumbing)."""
    return tiny_checkpoints(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def settings(tiny_models: tuple[Path, Path]) -> AnalysisSettings:
    """Analysis settings with the tiny models, one thread (the machine is shared)."""
    lung, lesion = tiny_models
    return AnalysisSettings(lung_model=str(lung), lesion_model=str(lesion), backend="torch", threads=1)


@pytest.fixture(scope="session")
def service_config(tmp_path_factory: pytest.TempPathFactory, settings: AnalysisSettings) -> ServiceConfig:
    """The shared server's configuration."""
    return ServiceConfig(
        data_dir=tmp_path_factory.mktemp("data"),
        token=TOKEN,
        max_upload_bytes=MAX_UPLOAD_BYTES,
        max_unzipped_bytes=MAX_UNZIPPED_BYTES,
        max_zip_files=MAX_ZIP_FILES,
        workers=1,
        analysis=settings,
        poll_interval_s=0.05,
    )


@pytest.fixture(scope="session")
def client(service_config: ServiceConfig) -> Iterator[TestClient]:
    """An in-process server with one real worker process, shared by the API tests."""
    with TestClient(create_app(service_config), headers=AUTH) as c:
        yield c
