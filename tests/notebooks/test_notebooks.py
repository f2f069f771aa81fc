"""The notebooks under notebooks/: committed without outputs, and run top to bottom on a fresh kernel.

The kernel is the ``python3`` kernelspec that ipykernel installs into the environment; jupyter_client starts
it with this interpreter (``sys.executable``), so the notebooks import the same ctangel as the tests.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Final

import nbformat
import pytest

NOTEBOOKS: Final = Path(__file__).resolve().parents[2] / "notebooks"
TRAIN: Final = "ct_angel_train.ipynb"
ANALYZE: Final = "analyze_a_study.ipynb"
#: The longest a single cell may run (the training cell is the longest: about a minute on 2 cores).
CELL_TIMEOUT_S: Final = 900
SCHEMA: Final = Path(__file__).resolve().parents[2].parent / "shared" / "results.schema.json"


def run_notebook(name: str, cwd: Path) -> nbformat.NotebookNode:
    """Execute a notebook top to bottom in ``cwd``, as Jupyter would from the notebook's folder."""
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        nb, kernel_name="python3", timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(cwd)}}
    ).execute()
    return nb


def images_shown(nb: nbformat.NotebookNode) -> int:
    """PNG images among the outputs of the notebook's code cells."""
    return sum(
        "image/png" in out.get("data", {}) for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
    )


@pytest.mark.parametrize("name", [TRAIN, ANALYZE])
def test_committed_notebook_has_no_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code), f"{name}: clear its outputs"
    assert nb.metadata.kernelspec.name == "python3"


def test_python3_kernel_runs_this_interpreter() -> None:
    from jupyter_client.manager import KernelManager

    command = KernelManager(kernel_name="python3").format_kernel_cmd()
    assert Path(command[0]) == Path(sys.executable), f"the python3 kernelspec starts {command[0]}"


@pytest.mark.slow
def test_training_notebook_trains_evaluates_and_exports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTANGEL_CACHE", str(tmp_path / "cache"))  # the kernel inherits it: ONNX cache here
    nb = run_notebook(TRAIN, tmp_path)
    work = tmp_path / "work" / "ct_angel_train"
    weights = work / "weights" / "lesion-notebook.pt"
    assert weights.is_file() and weights.with_suffix(".onnx").is_file()
    log = [
        json.loads(line) for line in (work / "weights" / "lesion-notebook.run" / "log.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in log] == list(range(10, 81, 10))
    metrics = json.loads((work / "test-evaluation" / "metrics.json").read_text())
    assert metrics["n_matched_slices"] == metrics["n_slices"] == 32  # two phantom patients of 16 slices
    assert metrics["n_patients"] == 2
    assert metrics["segmentation"] is not None
    assert images_shown(nb) >= 6  # pairs, augmentation, curves, ROC, overlays


@pytest.mark.slow
def test_analysis_notebook_writes_results_and_reads_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTANGEL_CACHE", str(tmp_path / "cache"))
    nb = run_notebook(ANALYZE, tmp_path)
    results = json.loads((tmp_path / "work" / "analyze_a_study" / "analysis" / "results.json").read_text())
    (patient,) = results["patients"]
    assert patient["patient_id"] == "CTANGEL-PHANTOM" and len(patient["studies"][0]["slices"]) == 48
    if SCHEMA.is_file():
        import jsonschema

        jsonschema.validate(results, json.loads(SCHEMA.read_text()))
    assert images_shown(nb) >= 3  # montage, probability curve, overlay
    last = nb.cells[-1].outputs[-1]["data"]["text/plain"]
    assert "patient_id" in last
