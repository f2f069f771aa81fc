from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from ctangel.inference import AnalysisSettings, Pipeline
from ctangel.training.pseudo import teacher_pipeline, write_pseudo_labels


def fake_ma(root: Path) -> None:
    """Two 'volumes' of 3 slices in Ma et al.'s layout, stored turned as the real ones are."""
    ma = root / "ma_covid19ctseg_slices_infnet"
    (ma / "images").mkdir(parents=True)
    rows = []
    for volume in ("coronacases_org_001", "radiopaedia_org_covid-19-pneumonia-4_85506_1-dcm"):
        for k in (1, 2, 3):
            name = f"images/Data-1_{volume}_{k}.jpg"
            img = np.full((40, 60), 200, np.uint8)
            img[10:30, 5:25] = 30
            Image.fromarray(img).save(ma / name)
            rows.append({"file": name, "source_volume": volume, "slice_number_in_name": str(k), "patient_id": volume})
    with open(ma / "slices.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def teacher_folder(root: Path) -> None:
    for split in ("train", "val"):
        for kind in ("images", "labels"):
            (root / f"{split}_{kind}").mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / f"{split}_images" / "medseg__1.png")
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / f"{split}_labels" / "medseg__1.png")


def test_student_folder_links_the_teachers_and_adds_oriented_pseudo_labels(
    tmp_path: Path, tiny_models: tuple[Path, Path]
) -> None:
    fake_ma(tmp_path / "data")
    teacher_folder(tmp_path / "lesion")
    lung, lesion = tiny_models
    pipeline = teacher_pipeline(
        Pipeline(AnalysisSettings(lung_model=str(lung), lesion_model=str(lesion), backend="torch"))
    )
    assert pipeline.settings.flip_tta
    counts = write_pseudo_labels(tmp_path / "data", tmp_path / "lesion", tmp_path / "semi", pipeline, stride=2)
    assert counts["linked_train"] == counts["linked_val"] == 1
    assert counts["pseudo"] == 4  # slices 1 and 3 of each volume
    assert (tmp_path / "semi" / "train_images" / "medseg__1.png").is_symlink()
    names = sorted(p.name for p in (tmp_path / "semi" / "train_images").glob("ma__*"))
    assert names == sorted(p.name for p in (tmp_path / "semi" / "train_labels").glob("ma__*"))
    # stored 40 x 60 (rows x cols), shown turned a quarter: 60 x 40
    img = Image.open(tmp_path / "semi" / "train_images" / names[0])
    assert img.size == (40, 60)
    assert Image.open(tmp_path / "semi" / "train_labels" / names[0]).size == (40, 60)
