"""``ctangel analyze`` on a DICOM series: per-region figures in results.json, summary.csv, charts, DICOM SEG."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from ctangel.anatomy.schema import ANATOMY_SCHEMA, extended_results_schema
from ctangel.cli.main import app
from ctangel.report.summary import summary_columns

runner = CliRunner()


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ctangel.synthetic.dicom_writer import write_dicom_series
    from ctangel.synthetic.phantom import make_phantom

    folder = tmp_path_factory.mktemp("anatomy") / "series"
    write_dicom_series(make_phantom(8, 2), folder)
    return folder


@pytest.mark.parametrize("regions", ["zones", "lobes"])
def test_analyze_writes_regions_summary_charts_and_seg(
    series: Path, tmp_path: Path, tiny_models: tuple[Path, Path], regions: str
) -> None:
    out = tmp_path / "out"
    lung, lesion = tiny_models
    args = ["analyze", str(series), "--out", str(out), "--lung-model", str(lung), "--lesion-model", str(lesion)]
    result = runner.invoke(app, [*args, "--backend", "torch", "--regions", regions, "--dicom-seg"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    study = doc["patients"][0]["studies"][0]
    anatomy = study["anatomy"]
    jsonschema.validate(anatomy, ANATOMY_SCHEMA)
    assert anatomy["regions_method"] == regions
    keys = [r["key"] for r in anatomy["regions"]]
    lobes, zones = ["RUL", "RML", "RLL", "LUL", "LLL"], ["RUZ", "RMZ", "RLZ", "LUZ", "LMZ", "LLZ"]
    assert keys == (lobes if regions == "lobes" else zones)
    assert anatomy["severity_score_max"] == 5 * len(keys)
    assert anatomy["severity_score"] == sum(r["score"] for r in anatomy["regions"])
    assert sum(r["lesion_px"] for r in anatomy["regions"]) == sum(anatomy["slices"]["lesion_px_right"]) + sum(
        anatomy["slices"]["lesion_px_left"]
    )
    assert len(anatomy["slices"]["lesion_px_right"]) == study["n_slices"] == 8
    for chart in study["outputs"]["charts"]:
        assert (out / chart).read_text().startswith("<svg")
    assert (out / study["outputs"]["dicom_seg"]).read_bytes()[128:132] == b"DICM"
    with (out / "summary.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and list(rows[0]) == summary_columns(regions)  # type: ignore[arg-type]
    assert rows[0]["regions_method"] == regions and int(rows[0]["severity_score"]) == anatomy["severity_score"]
    assert rows[0][f"{keys[0]}_score"] == str(anatomy["regions"][0]["score"])
    html = (out / "report.html").read_text()
    assert "CT severity score" in html and "<svg" in html
    assert ("Lungs and lobes (estimated)" in html) == (regions == "lobes")


def test_results_with_anatomy_follow_the_shared_schema(
    series: Path, tmp_path: Path, tiny_models: tuple[Path, Path], results_schema: dict
) -> None:
    lung, lesion = tiny_models
    out = tmp_path / "out"
    args = ["analyze", str(series), "--out", str(out), "--lung-model", str(lung), "--lesion-model", str(lesion)]
    assert runner.invoke(app, [*args, "--backend", "torch"]).exit_code == 0
    doc = json.loads((out / "results.json").read_text())
    jsonschema.validate(doc, results_schema)
    jsonschema.validate(doc, extended_results_schema(results_schema))
