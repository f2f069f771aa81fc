from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ctangel.errors import ConfigError
from ctangel.io.study import DisplayTransform, Study
from ctangel.report.labels import LabelIndex


def _save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)
    return path


def _study(sources: list[str], display: DisplayTransform | None = None, is_volume: bool = False) -> Study:
    return Study(
        "p",
        "s",
        "s",
        "in",
        "uint8",
        sources,
        lambda i: np.zeros((1, 1), np.uint8),
        display or DisplayTransform(),
        is_volume,
    )  # type: ignore[arg-type,return-value]


def test_labels_are_found_by_stem_whatever_their_ending(tmp_path: Path) -> None:
    a = _save(tmp_path / "labels" / "a.jpg", np.zeros((4, 4)))
    _save(tmp_path / "labels" / "p1" / "b.png", np.zeros((4, 4)))
    _save(tmp_path / "labels" / "p2" / "b.png", np.zeros((4, 4)))
    index = LabelIndex(tmp_path / "labels")
    assert index.find("scans/a.png") == a
    assert index.find("scans/p2/b.dcm") == tmp_path / "labels" / "p2" / "b.png"  # the folder decides
    assert index.find("scans/p3/b.png") is None  # ambiguous: none rather than a wrong one
    assert index.find("vol.nii.gz#3") is None
    assert index.for_study(_study(["x/a.png", "x/c.png"])) == {0: a}


def test_missing_labels_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="labels folder"):
        LabelIndex(tmp_path / "nope")


def test_label_read_in_display_orientation_and_boxed_8_connected(tmp_path: Path) -> None:
    stored = np.zeros((10, 12), dtype=np.uint8)
    stored[1:3, 1:3] = 255
    stored[3, 3] = 200  # touches the first square at a corner: the same lesion
    stored[7:9, 8:11] = 130  # just over the cut at 127
    stored[0, 11] = 120  # under the cut: not lesion
    path = _save(tmp_path / "a.png", stored)
    study = _study(["a.png"], DisplayTransform(flip_rows=True))
    mask = LabelIndex.read(path, study, (10, 12))
    assert mask is not None
    assert mask[9 - 1, 1] and not mask[1, 1]  # rows flipped
    assert LabelIndex.boxes(mask) == [(8.0, 1.0, 11.0, 3.0), (1.0, 6.0, 4.0, 9.0)]  # largest (6 px) first


def test_label_of_another_size_is_not_drawn(tmp_path: Path) -> None:
    path = _save(tmp_path / "a.png", np.zeros((10, 12)))
    assert LabelIndex.read(path, _study(["a.png"]), (12, 12)) is None
