"""Semi-supervised step: the teacher's lesion masks on the unlabelled COVID slices of Ma et al.

Inf-Net's Semi-Inf-Net went from 0.682 to 0.739 mean Dice on MedSeg's test split by training on its own
pseudo-labels of these 1,600 slices. Here the teacher is the whole pipeline (lung stage, lesion stage with
test-time flip, post-processing), so a pseudo-label is exactly what ``ctangel analyze`` would output. The
student's folder holds the teacher's training and validation folders (linked) plus the pseudo-labelled
slices (named ``ma__*``), in display orientation.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ctangel.constants import MASK_FOREGROUND
from ctangel.inference.collect import MaskCollector
from ctangel.inference.pipeline import Pipeline
from ctangel.io.image import image_study
from ctangel.log import logger
from ctangel.training.sources import ma_orientation, ma_volumes

#: Slices analysed per call.
PSEUDO_CHUNK = 64


def _link_folder(src: Path, dst: Path) -> int:
    dst.mkdir(parents=True, exist_ok=True)
    n = 0
    for f in sorted(src.iterdir()):
        link = dst / f.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(f.resolve())
        n += 1
    return n


def write_pseudo_labels(data: Path, lesion_dir: Path, out: Path, pipeline: Pipeline, stride: int = 1) -> dict[str, int]:
    """Write the student's training folder.

    Args:
        data: the shared data folder (holds ``ma_covid19ctseg_slices_infnet``).
        lesion_dir: the teacher's training folder (its train and val folders are linked).
        out: the student's folder.
        pipeline: the teacher pipeline.
        stride: every ``stride``-th slice of each Ma volume is pseudo-labelled.

    Returns:
        counts: linked train and val slices, pseudo-labelled slices and how many of those have lesion.
    """
    counts = {"linked_train": 0, "linked_val": 0, "pseudo": 0, "pseudo_positive": 0}
    for split in ("train", "val"):
        for kind in ("images", "labels"):
            n = _link_folder(lesion_dir / f"{split}_{kind}", out / f"{split}_{kind}")
            if kind == "images":
                counts[f"linked_{split}"] = n
    ma = data / "ma_covid19ctseg_slices_infnet"
    todo = [(volume, ma / r["file"]) for volume, rows in ma_volumes(data).items() for r in rows[::stride]]
    img_dir, lab_dir = out / "train_images", out / "train_labels"
    for start in tqdm(range(0, len(todo), PSEUDO_CHUNK), desc="pseudo-labels", unit="chunk"):
        chunk = todo[start : start + PSEUDO_CHUNK]
        studies = [
            image_study([str(p)], str(p.parent), study_id=p.stem, patient_id=v, display=ma_orientation(v))
            for v, p in chunk
        ]
        sink = MaskCollector()
        pipeline.analyze_studies(studies, sink=sink)
        for study in studies:
            source = study.sources[0]
            mask = study.display.apply(sink.masks[source])  # stored -> display, like the image written
            name = f"ma__{Path(source).stem}"
            Image.fromarray(study.read(0)).save(img_dir / f"{name}.png")
            Image.fromarray(mask.astype(np.uint8) * MASK_FOREGROUND).save(lab_dir / f"{name}.png")
            counts["pseudo"] += 1
            counts["pseudo_positive"] += int(mask.any())
    logger.info("pseudo-labels: %s", counts)
    return counts


def teacher_pipeline(pipeline: Pipeline) -> Pipeline:
    """The same pipeline with test-time flips, for steadier pseudo-labels."""
    return Pipeline(replace(pipeline.settings, flip_tta=True), pipeline.lung_model, pipeline.lesion_model)
