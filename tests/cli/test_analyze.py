"""``ctangel analyze`` run in-process, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from ctangel.cli.main import app
from ctangel.models.registry import MODELS, weights_dir

runner = CliRunner()


def write_pngs(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    rows, cols = np.mgrid[:96, :128]
    for i in range(n):
        img = np.where(((rows - 48) / 40) ** 2 + ((cols - 64) / 56) ** 2 < 1, 200, 10).astype(np.uint8)
        img[30:60, 30:55] = 40
        Image.fromarray(img).save(folder / f"slice{i + 1}.png")


def test_bad_input_is_one_line_and_the_rest_is_written(
    tmp_path: Path, tiny_models: tuple[Path, Path], results_schema: dict
) -> None:
    write_pngs(tmp_path / "patient7", 3)
    (tmp_path / "broken.dcm").write_bytes(b"DICM but not really")
    out = tmp_path / "out"
    lung, lesion = tiny_models
    result = runner.invoke(
        app,
        [
            "analyze",
            str(tmp_path / "patient7"),
            str(tmp_path / "broken.dcm"),
            str(tmp_path / "missing"),
            "--out",
            str(out),
            "--lung-model",
            str(lung),
            "--lesion-model",
            str(lesion),
            "--masks",
        ],
    )
    assert result.exit_code == 1
    assert "broken.dcm" in result.output and "missing" in result.output
    doc = json.loads((out / "results.json").read_text())
    jsonschema.validate(doc, results_schema)
    (patient,) = doc["patients"]
    assert patient["patient_id"] == "patient7"
    slices = patient["studies"][0]["slices"]
    assert [Path(s["source"]).name for s in slices] == ["slice1.png", "slice2.png", "slice3.png"]
    assert {Path(e["input"]).name for e in doc["errors"]} == {"broken.dcm", "missing"}
    assert (out / "report.html").is_file()
    masks = sorted((out / "masks").rglob("*.png"))
    assert [m.stem for m in masks] == ["slice1", "slice2", "slice3"]
    assert Image.open(masks[0]).size == (128, 96)


def test_settings_are_recorded(tmp_path: Path, tiny_models: tuple[Path, Path]) -> None:
    write_pngs(tmp_path / "p", 1)
    lung, lesion = tiny_models
    result = runner.invoke(
        app,
        [
            "analyze",
            str(tmp_path / "p"),
            "--out",
            str(tmp_path / "o"),
            "--lung-model",
            str(lung),
            "--lesion-model",
            str(lesion),
            "--threshold",
            "0.7",
            "--min-area",
            "40",
            "--backend",
            "torch",
        ],
    )
    assert result.exit_code == 0, result.output
    settings = json.loads((tmp_path / "o" / "results.json").read_text())["settings"]
    assert settings["lesion_threshold"] == 0.7 and settings["min_lesion_area_px_at_512"] == 40
    assert settings["backend"] == "torch"


def test_bad_setting_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", str(tmp_path), "--out", str(tmp_path / "o"), "--threshold", "1.5"])
    assert result.exit_code != 0


shipped = pytest.mark.skipif(
    not all((weights_dir() / m.onnx).is_file() and m.onnx_sha256 for m in MODELS.values()),
    reason="the shipped weights are not in this checkout",
)


@shipped
@pytest.mark.slow
def test_shipped_models_on_the_phantom(tmp_path: Path, results_schema: dict) -> None:
    from ctangel.synthetic import make_phantom, write_phantom

    ph = make_phantom(24, seed=1)
    files = write_phantom(ph, tmp_path / "ph")
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["analyze", str(files.series_dir), "--out", str(out), "--labels", str(files.truth_dir / "labels"), "--masks"],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    jsonschema.validate(doc, results_schema)
    (patient,) = doc["patients"]
    assert patient["patient_id"] == "CTANGEL-PHANTOM"
    slices = patient["studies"][0]["slices"]
    assert len(slices) == 24 and [s["index"] for s in slices] == list(range(24))
    has_lung = [bool(ph.lung_mask[i].any()) for i in range(24)]
    found_lung = [s["lung_box"] is not None for s in slices]
    assert np.mean(np.equal(has_lung, found_lung)) >= 0.85
    assert (out / "masks").is_dir() and any((out / "masks").glob("*.nii.gz"))
