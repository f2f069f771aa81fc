"""evaluate() end to end on the hand-made results of evaluation_factory (see its docstring for the cases)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from evaluation_factory import results_document, write_labels, write_results
from PIL import Image

from ctangel.errors import InputError
from ctangel.metrics.confusion import ConfusionCounts
from ctangel.metrics.evaluate import LABELS_NEEDED, MASKS_NEEDED, evaluate


def test_the_hand_made_results_have_the_shared_schema_shape(results_schema: dict) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(results_document(), results_schema)


def test_label_folder_with_masks(tmp_path: Path) -> None:
    results = write_results(tmp_path / "run")
    labels = write_labels(tmp_path / "labels")
    report = evaluate(results, labels, tmp_path / "eval")

    # Per image: a TP, b FN, c TN, d FP; the volume's slices match no label image.
    assert report.per_image == ConfusionCounts(tp=1, fp=1, tn=1, fn=1)
    assert (report.n_matched, report.n_slices) == (4, 6)
    assert report.unmatched_slices == ["vol/P3.nii.gz#0", "vol/P3.nii.gz#1"]
    assert any("PATH#k" in note for note in report.notes)
    # Per patient: P1 called positive, truly positive (a); P2 called negative, truly negative; P3 unscored.
    assert report.per_patient == ConfusionCounts(tp=1, fp=0, tn=1, fn=0)
    assert [p.patient_id for p in report.patients] == ["P1", "P2"]
    # AUC per image: positives a 0.9, b 0.3 against negatives c 0.2, d 0.6: 3 of 4 pairs won.
    assert report.roc_image.auc == pytest.approx(0.75)
    assert report.roc_patient.auc == pytest.approx(1.0)  # P1 0.9 > P2 max(0.2, 0.6)

    # Masks: a (tp 2, fp 2, fn 2, tn 10), b (fn 2, tn 14), c empty/empty (tn 16), d empty truth, fp 1 (tn 15).
    seg = report.segmentation
    assert seg is not None
    assert seg.n_lesion_slices == 2  # a, b
    assert seg.dice_mean == pytest.approx((4 / 8 + 0) / 2)
    assert seg.iou_mean == pytest.approx((2 / 6 + 0) / 2)
    assert seg.pixels == ConfusionCounts(tp=2, fp=3, tn=55, fn=4)
    assert seg.dice_pooled == pytest.approx(4 / 11)
    assert seg.iou_pooled == pytest.approx(2 / 9)
    assert (seg.n_empty_truth, seg.n_empty_truth_predicted) == (2, 1)

    out = tmp_path / "eval"
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "metrics.md", "roc.png"]
    doc = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert doc["truth"] == {"path": str(labels), "kind": "labels"}
    assert doc["n_matched_slices"] == 4
    assert {k: doc["per_image"][k] for k in ("tp", "fp", "tn", "fn")} == {"tp": 1, "fp": 1, "tn": 1, "fn": 1}
    # Wilson for 1/2: centre 0.5, half 1.959964 / 2.920729 * sqrt(0.125 + 0.240091) = 0.405470
    assert doc["per_image"]["sensitivity"]["ci95"] == pytest.approx([0.0945, 0.9055], abs=1e-4)
    assert doc["per_image"]["roc"]["auc"] == pytest.approx(0.75)
    assert doc["segmentation"]["pooled_over_all_pixels"]["dice"] == pytest.approx(4 / 11)

    md = (out / "metrics.md").read_text(encoding="utf-8")
    table = "| | Sensitivity | Specificity | Accuracy | PPV | NPV | TP/FP/TN/FN |"
    assert table in md
    # Every rate 1/2 but accuracy 2/4: centre 0.5, half 1.959964 / 1.960365 * sqrt(0.0625 + 0.060023)
    # = 0.349961 -> (0.1500, 0.8500).
    half, acc4 = "50.00% (9.5–90.5)", "50.00% (15.0–85.0)"
    assert f"| Per image | {half} | {half} | {acc4} | {half} | {half} | 1/1/1/1 |" in md
    # 1/1: (1 / (1 + z²), 1) = (0.2065, 1); 2/2: (2 / (2 + z²), 1) = (0.3424, 1)
    whole, acc = "100.00% (20.7–100.0)", "100.00% (34.2–100.0)"
    assert f"| Per patient | {whole} | {whole} | {acc} | {whole} | {whole} | 1/0/1/0 |" in md
    assert "| Per image | 0.750 |" in md
    assert "| Mean over slices with lesion | 2 | 0.250 | 0.167 |" in md
    assert "| Pooled over all pixels | 4 | 0.364 | 0.222 |" in md
    with Image.open(out / "roc.png") as im:
        assert im.format == "PNG" and im.size[0] > 400


def test_label_folder_without_masks_says_what_to_run(tmp_path: Path) -> None:
    results = write_results(tmp_path / "run", with_masks=False)
    report = evaluate(results, write_labels(tmp_path / "labels"), tmp_path / "eval")
    assert report.segmentation is None
    assert report.segmentation_note == MASKS_NEEDED
    assert "ctangel analyze --masks" in (tmp_path / "eval" / "metrics.md").read_text(encoding="utf-8")
    assert report.per_image == ConfusionCounts(tp=1, fp=1, tn=1, fn=1)  # image truth needs no mask


def test_csv_with_patient_column(tmp_path: Path) -> None:
    results = write_results(tmp_path / "run")
    csv = tmp_path / "truth.csv"
    csv.write_text(
        "\n".join(
            [
                " Source , LABEL,patient",  # header names in any case
                "scans/P1/a.png,1,X",  # line 2: exact
                "./scans/P1/b.png,yes,X",  # line 3: normalised path
                "c.png,0,Y",  # line 4: file name
                "d.png,1,W",  # line 5: file name
                "vol/P3.nii.gz#1,1,Z",  # line 6: a volume's slice
                "nothere.png,1,Z",  # line 7: no such slice
                "scans/P1/a.png,0,X",  # line 8: a again
                "",
            ]
        ),
        encoding="utf-8",
    )
    report = evaluate(results, csv, tmp_path / "eval")
    # Per image: a TP, b FN (called negative, labelled yes), c TN, d TP, P3#1 TP.
    assert report.per_image == ConfusionCounts(tp=3, fp=0, tn=1, fn=1)
    assert report.unmatched_slices == ["vol/P3.nii.gz#0"]
    assert [(r.line, r.source) for r in report.unmatched_rows] == [(7, "nothere.png"), (8, "scans/P1/a.png")]
    assert "line 2" in report.unmatched_rows[1].reason
    # Per patient, grouped by the CSV: X = P1's labelled slices (P1's call, positive: TP); Z = P3's
    # (P3's call: TP); Y = {c} and W = {d} split P2, so the results' rule decides: c alone has no positive
    # slice (negative: TN), d alone is positive with 1 px at 4x4 = 16384 px at 512x512 >= 300 (TP).
    calls = {p.patient_id: (p.predicted, p.truth, p.by_rule) for p in report.patients}
    assert calls == {
        "X": (True, True, False),
        "Y": (False, False, True),
        "W": (True, True, True),
        "Z": (True, True, False),
    }
    assert report.per_patient == ConfusionCounts(tp=3, fp=0, tn=1, fn=0)
    assert {p.patient_id: p.score for p in report.patients}["Z"] == pytest.approx(0.7)  # max over P3
    assert any("patient rule" in note for note in report.notes)
    assert report.segmentation is None and report.segmentation_note == LABELS_NEEDED
    doc = json.loads((tmp_path / "eval" / "metrics.json").read_text(encoding="utf-8"))
    assert doc["truth"]["kind"] == "csv"
    assert doc["unmatched_rows"][0] == {
        "line": 7,
        "source": "nothere.png",
        "reason": report.unmatched_rows[0].reason,
    }


def test_csv_without_patient_column_groups_by_results(tmp_path: Path) -> None:
    results = write_results(tmp_path / "run")
    csv = tmp_path / "truth.csv"
    csv.write_text("source,label\nscans/P2/c.png,0\nscans/P2/d.png,1\n", encoding="utf-8")
    report = evaluate(results, csv, tmp_path / "eval")
    # P2: called negative, truly positive (d) -> FN; P1 and P3 have no labelled slice.
    assert report.per_patient == ConfusionCounts(fn=1)
    assert report.per_patient.rates()["sensitivity"].format() == "0.00% (0.0–79.3)"  # (0, z²/(1+z²))
    assert report.roc_patient.auc is None  # one class only
    assert any("2 patients" in note and "not scored" in note for note in report.notes)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("results_text", "match"),
    [
        (None, "no such file"),
        ("{not json", "not JSON"),
        ('{"patients": []}', "not a results.json of ctangel"),
        ('{"ctangel_version": "0.1", "patients": [{"positive": true}]}', "missing key 'patient_id'"),
    ],
)
def test_bad_results_name_the_file(tmp_path: Path, results_text: str | None, match: str) -> None:
    path = tmp_path / "run" / "results.json"
    if results_text is not None:
        _write(path, results_text)
    with pytest.raises(InputError, match=match) as info:
        evaluate(path, write_labels(tmp_path / "labels"), tmp_path / "eval")
    assert info.value.path == str(path)
    assert "ctangel analyze" in info.value.problem  # says what to give instead
    assert not (tmp_path / "eval").exists()


@pytest.mark.parametrize(
    ("csv_text", "match"),
    [
        ("", "empty"),
        ("source,truth\na.png,1\n", "needs the columns source,label"),
        ("source,label\n", "no rows"),
        ("source,label\na.png,maybe\n", "line 2: label 'maybe'"),
        ("source,label\nelsewhere.png,1\n", "labels none of the 6 slices"),
    ],
)
def test_bad_csv_names_the_file(tmp_path: Path, csv_text: str, match: str) -> None:
    results = write_results(tmp_path / "run")
    csv = _write(tmp_path / "truth.csv", csv_text)
    with pytest.raises(InputError, match=match) as info:
        evaluate(results, csv, tmp_path / "eval")
    assert info.value.path == str(csv)


def test_missing_or_empty_truth_and_missing_mask(tmp_path: Path) -> None:
    results = write_results(tmp_path / "run")
    with pytest.raises(InputError, match="no such file or folder") as info:
        evaluate(results, tmp_path / "nope", tmp_path / "eval")
    assert info.value.path == str(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no label images"):
        evaluate(results, tmp_path / "empty", tmp_path / "eval")
    (tmp_path / "run" / "masks" / "P1" / "a.png").unlink()
    with pytest.raises(InputError, match="lists this lesion mask") as info:
        evaluate(results, write_labels(tmp_path / "labels"), tmp_path / "eval")
    assert info.value.path.endswith("a.png")


def test_results_folder_is_accepted(tmp_path: Path) -> None:
    write_results(tmp_path / "run")
    labels = write_labels(tmp_path / "labels")
    report = evaluate(tmp_path / "run", labels, tmp_path / "eval")
    assert report.results_path == tmp_path / "run" / "results.json"
    assert np.isclose(report.roc_image.auc or 0.0, 0.75)
