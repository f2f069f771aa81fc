"""``ctangel evaluate`` run in-process on a one-patient results.json and a CSV truth, written by hand."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ctangel.cli.main import app
from ctangel.errors import InputError

RUNNER = CliRunner()


def _slice(index: int, source: str, positive: bool, p: float) -> dict[str, object]:
    return {
        "index": index,
        "source": source,
        "positive": positive,
        "lesion_probability": p,
        "lesion_area_px": 40 if positive else 0,
        "lung_box": None,
        "boxes": [{"box": [0, 0, 5, 8], "area_px": 40, "score": p}] if positive else [],
        "rows": 512,
        "cols": 512,
    }


def _results(folder: Path) -> Path:
    """Patient P (called positive), slices s1 (positive, p 0.8) and s2 (negative, p 0.1)."""
    slices = [_slice(0, "scans/P/s1.png", True, 0.8), _slice(1, "scans/P/s2.png", False, 0.1)]
    study = {"study_id": "P", "series_id": "P", "input": "scans/P", "n_slices": 2, "positive": True}
    doc = {
        "ctangel_version": "0.1.0",
        "models": {"lung": {}, "lesion": {}},
        "settings": {},
        "patients": [{"patient_id": "P", "positive": True, "rule": "r", "studies": [{**study, "slices": slices}]}],
    }
    folder.mkdir(parents=True)
    path = folder / "results.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_evaluate_prints_the_table_and_writes_the_files(tmp_path: Path) -> None:
    results = _results(tmp_path / "run")
    truth = tmp_path / "truth.csv"
    truth.write_text("source,label\nscans/P/s1.png,1\nscans/P/s2.png,0\n", encoding="utf-8")
    out = tmp_path / "eval"
    result = RUNNER.invoke(app, ["evaluate", str(results), "--truth", str(truth), "--out", str(out)])
    assert result.exit_code == 0, result.output
    # Per image: s1 TP, s2 TN. 1/1 -> (1 / (1 + z²), 1) = (0.2065, 1).
    whole = "100.00% (20.7–100.0)"
    assert f"| Per image | {whole} | {whole} | 100.00% (34.2–100.0) | {whole} | {whole} | 1/0/1/0 |" in result.output
    assert "| Per image | 1.000 |" in result.output  # AUC
    assert "| Per patient | 100.00% (20.7–100.0) | n/a |" in result.output  # no truly negative patient
    assert f"metrics: {out / 'metrics.json'}" in result.output
    assert f"roc: {out / 'roc.png'}" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "metrics.md", "roc.png"]


def test_evaluate_fails_on_missing_results(tmp_path: Path) -> None:
    truth = tmp_path / "truth.csv"
    truth.write_text("source,label\na.png,1\n", encoding="utf-8")
    missing = tmp_path / "nope" / "results.json"
    result = RUNNER.invoke(app, ["evaluate", str(missing), "--truth", str(truth), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert isinstance(result.exception, InputError)  # main() turns it into one line and exit code 1
    assert str(missing) in str(result.exception)


def test_evaluate_needs_truth_and_out(tmp_path: Path) -> None:
    result = RUNNER.invoke(app, ["evaluate", str(tmp_path / "results.json")])
    assert result.exit_code == 2  # usage error: --truth and --out are required
