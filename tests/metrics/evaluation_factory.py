"""A tiny results.json written by hand, as `ctangel analyze --masks` would lay it out, with label images.

Three patients::

    P1  positive   scans/P1/a.png  positive  p 0.9   truth: lesion (row 0)     mask: 2x2 square, top left
                   scans/P1/b.png  negative  p 0.3   truth: lesion (2 px)      mask: empty
    P2  negative   scans/P2/c.png  negative  p 0.2   truth: empty              mask: empty
                   scans/P2/d.png  positive  p 0.6   truth: empty              mask: 1 px
    P3  positive   vol/P3.nii.gz#0 negative  p 0.1   (a volume: no label image can match it)
                   vol/P3.nii.gz#1 positive  p 0.7
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

SIDE = 4
RULE = ">= 2 positive slices (all slices when fewer) and >= 300 lesion px at 512x512 on them in all"
MODELS = {"lung": {"name": "lung-test"}, "lesion": {"name": "lesion-test"}}
SETTINGS = {"patient_min_positive_slices": 2, "patient_min_lesion_area_px_at_512": 300.0}


def _slice(index: int, source: str, positive: bool, p: float, area: int) -> dict[str, Any]:
    box = [[0.0, 0.0, 2.0, 2.0]] if positive else []
    return {
        "index": index,
        "source": source,
        "positive": positive,
        "lesion_probability": p,
        "lesion_area_px": area,
        "lung_area_px": 12,
        "lung_box": [0.0, 0.0, 4.0, 4.0],
        "boxes": [{"box": b, "area_px": area, "score": p} for b in box],
        "rows": SIDE,
        "cols": SIDE,
    }


def _study(sid: str, slices: list[dict[str, Any]], positive: bool, outputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "study_id": sid,
        "series_id": sid,
        "input": f"scans/{sid}",
        "kind": "uint8",
        "n_slices": len(slices),
        "positive": positive,
        "outputs": outputs,
        "slices": slices,
    }


def results_document(with_masks: bool = True) -> dict[str, Any]:
    """The results.json of the module's three patients; image studies list their mask PNGs when asked."""

    def masks(pid: str, stems: list[str]) -> dict[str, Any]:
        if not with_masks:
            return {}
        return {"masks": [{"index": i, "path": f"masks/{pid}/{s}.png"} for i, s in enumerate(stems)]}

    p1 = [_slice(0, "scans/P1/a.png", True, 0.9, 4), _slice(1, "scans/P1/b.png", False, 0.3, 0)]
    p2 = [_slice(0, "scans/P2/c.png", False, 0.2, 0), _slice(1, "scans/P2/d.png", True, 0.6, 1)]
    p3 = [_slice(0, "vol/P3.nii.gz#0", False, 0.1, 0), _slice(1, "vol/P3.nii.gz#1", True, 0.7, 9)]
    patients = [
        ("P1", True, [_study("P1", p1, True, masks("P1", ["a", "b"]))]),
        ("P2", False, [_study("P2", p2, False, masks("P2", ["c", "d"]))]),
        ("P3", True, [_study("P3", p3, True, {"mask": "masks/P3.nii.gz"} if with_masks else {})]),
    ]
    return {
        "ctangel_version": "0.1.0",
        "models": MODELS,
        "settings": SETTINGS,
        "patients": [
            {"patient_id": pid, "positive": pos, "rule": RULE, "n_studies": 1, "studies": studies}
            for pid, pos, studies in patients
        ],
        "errors": [],
    }


def _png(path: Path, mask: np.ndarray, suffix: str = ".png") -> None:
    path = path.with_suffix(suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), mode="L").save(path)


def _masks() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per stem, (predicted mask, true mask)."""
    z = np.zeros((SIDE, SIDE), bool)
    a_pred, a_true = z.copy(), z.copy()
    a_pred[0:2, 0:2] = True
    a_true[0, :] = True
    b_true = z.copy()
    b_true[1, 1:3] = True
    d_pred = z.copy()
    d_pred[3, 3] = True
    return {"a": (a_pred, a_true), "b": (z, b_true), "c": (z, z), "d": (d_pred, z)}


def write_results(folder: Path, with_masks: bool = True) -> Path:
    """``folder/results.json`` and (``with_masks``) ``folder/masks/<patient>/<stem>.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.json"
    path.write_text(json.dumps(results_document(with_masks), indent=2), encoding="utf-8")
    if with_masks:
        for stem, (pred, _) in _masks().items():
            _png(folder / "masks" / ("P1" if stem in "ab" else "P2") / stem, pred)
    return path


def write_labels(folder: Path) -> Path:
    """Label images of a..d under ``folder``: PNG, a BMP in a subfolder and an (all black) JPEG."""
    m = _masks()
    _png(folder / "a", m["a"][1])
    _png(folder / "b", m["b"][1])
    _png(folder / "sub" / "c", m["c"][1], ".bmp")
    _png(folder / "d", m["d"][1], ".jpg")
    return folder
