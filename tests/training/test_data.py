from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ctangel.errors import InputError
from ctangel.training.data import find_pairs, load_examples


def write_pair(
    root: Path,
    split: str,
    stem: str,
    size: tuple[int, int] = (16, 16),
    label_size: tuple[int, int] | None = None,
) -> None:
    (root / f"{split}_images").mkdir(parents=True, exist_ok=True)
    (root / f"{split}_labels").mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size, 100, np.uint8)).save(root / f"{split}_images" / f"{stem}.jpg")
    lab = np.zeros(label_size or size, np.uint8)
    lab[2:5, 2:5] = 200  # over the 127 cut
    lab[8, 8] = 100  # JPEG-artefact grey: not lesion
    Image.fromarray(lab).save(root / f"{split}_labels" / f"{stem}.png")


def test_pairs_by_stem_and_label_threshold(tmp_path: Path) -> None:
    write_pair(tmp_path, "train", "a")
    write_pair(tmp_path, "train", "b(243)")
    assert [p[0].name for p in find_pairs(tmp_path, "train")] == ["a.jpg", "b(243).jpg"]
    ex = load_examples(tmp_path, "train")
    assert ex[0].kind == "uint8" and ex[0].positive
    assert ex[0].label.sum() == 9


def test_layout_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="train_images"):
        find_pairs(tmp_path, "train")
    write_pair(tmp_path, "train", "a")
    (tmp_path / "train_labels" / "a.png").unlink()
    with pytest.raises(InputError, match=r"a\.jpg"):
        find_pairs(tmp_path, "train")
    write_pair(tmp_path, "val", "c", label_size=(12, 12))
    with pytest.raises(InputError, match=r"c\.png"):
        load_examples(tmp_path, "val")
