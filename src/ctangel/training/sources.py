"""The public data in ``../shared/data``, turned into training folders in CT-Angel's layout.

``ctangel prepare`` calls :func:`prepare_all`. Nothing here is committed: the folders it writes are
derivatives of licensed data and stay on the machine that made them (``build/`` is git-ignored).

Orientation (checked by eye on montages of every source; the heart is the check for mirroring): ctangel's
display orientation is the radiological one, patient's front at the top and patient's left on the image's
right, as DICOM with the usual axial orientation shows it.

=============================  ============================================  ====================
source                         as stored                                     to display
=============================  ============================================  ====================
MedSeg (Inf-Net split)         spine on the right, heart low-left            transpose
Ma et al., coronacases.org     spine on the left, heart right                rotate 90° counter-clockwise
Ma et al., radiopaedia.org     spine on the right, heart low-left            transpose
UCSD COVID-CT, LIDC, CT-Angel  display orientation                           none
=============================  ============================================  ====================

Splits (fixed; the UCSD split is committed in ``configs/splits/ucsd_covid_ct.csv``, by patient):

* lesion: train = MedSeg train less its validation slices + UCSD non-COVID (train) + LIDC-IDRI-0001 +
  Lung-PET-CT-Dx A0001 (HU hosts into which real lesion shapes of MosMedData are drawn: ``lesion_shapes.npz``);
  val = :data:`MEDSEG_VAL` + UCSD non-COVID (val); test = MedSeg test + UCSD non-COVID (test) + LIDC-IDRI-0003.
* lung: train = LIDC-IDRI-0001 + MedSeg train + Ma (all but :data:`MA_LUNG_VAL_VOLUMES`, every
  :data:`MA_LUNG_STRIDE`-th slice) + UCSD (train, both classes); val = MedSeg val slices + Ma held-out volumes +
  UCSD (val); test = LIDC-IDRI-0003 + MedSeg test + UCSD (test).

LIDC-IDRI-0003 and MedSeg's test split are never in a train or val folder; COVID-CT-MD's clinical series
(``covid_ct_md_val``) never in any folder: it is read only by the benches that choose checkpoints and rules.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pydicom
from PIL import Image

from ctangel.constants import LABEL_THRESHOLD, MASK_FOREGROUND
from ctangel.errors import InputError
from ctangel.io.dicom import hu_from_dataset, read_dicom_slice
from ctangel.io.image import read_image
from ctangel.io.study import DisplayTransform
from ctangel.log import logger
from ctangel.preprocessing import Window, window_hu
from ctangel.training.lesion_shapes import build_shape_bank
from ctangel.training.lung_targets import AIR_THRESHOLD_HU, lung_mask_2d, lung_mask_volume

#: The 9 MedSeg training slices held back for validation (about every fifth by number).
MEDSEG_VAL: Final = frozenset({"0", "13", "19", "26", "33", "40", "46", "53", "67"})
#: Ma et al. volumes held back from lung training, for its validation.
MA_LUNG_VAL_VOLUMES: Final = frozenset(
    {
        "coronacases_org_009",
        "coronacases_org_010",
        "radiopaedia_org_covid-19-pneumonia-36_86526_0-dcm",
        "radiopaedia_org_covid-19-pneumonia-40_86625_0-dcm",
    }
)
#: Every n-th slice of each Ma volume goes into the lung folders (neighbours are near copies).
MA_LUNG_STRIDE: Final = 3
#: The LIDC patient used in training, and the one kept out of all training.
LIDC_TRAIN_PATIENT: Final = "LIDC-IDRI-0001"
LIDC_TEST_PATIENT: Final = "LIDC-IDRI-0003"
#: A third non-COVID HU series (another vendor and kernel): a host for synthetic lesions, in training only.
PET_CT_HOST: Final = "lung_pet_ct_dx_a0001"
#: The radiologists' COVID-19 lesion masks (no CT) whose shapes are drawn into the HU hosts.
MOSMED_MASKS: Final = "mosmed_lesion_masks"
#: The shape bank's file name in the lesion training folder (a derivative of MosMed: never committed).
SHAPE_BANK_NAME: Final = "lesion_shapes.npz"
#: UCSD split shares by patient: train, val, the rest test.
UCSD_SHARES: Final = (0.6, 0.2)

#: MedSeg's slices (and radiopaedia.org's in Ma et al.) are stored transposed: spine right, heart low-left.
TRANSPOSED: Final = DisplayTransform(transpose=True)
#: coronacases.org's slices in Ma et al. are stored a quarter turn clockwise (spine left): turning them back
#: counter-clockwise is a transpose followed by an up-down flip.
TURNED_CLOCKWISE: Final = DisplayTransform(transpose=True, flip_rows=True)


def ma_orientation(volume: str) -> DisplayTransform:
    """How a Ma et al. volume turns to display orientation."""
    return TURNED_CLOCKWISE if volume.startswith("coronacases") else TRANSPOSED


def ma_volumes(data: Path) -> dict[str, list[dict[str, str]]]:
    """Ma et al.'s slices.csv rows per volume, each volume's slices in order, volumes sorted by name."""
    with open(data / "ma_covid19ctseg_slices_infnet" / "slices.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    by_volume: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_volume.setdefault(r["source_volume"], []).append(r)
    return {v: sorted(rs, key=lambda r: int(r["slice_number_in_name"])) for v, rs in sorted(by_volume.items())}


def default_shared_data() -> Path:
    """``$CTANGEL_SHARED_DATA``, else ``../shared/data`` from the working folder."""
    return Path(os.environ.get("CTANGEL_SHARED_DATA", "../shared/data"))


def repo_root() -> Path:
    """The source checkout this package runs from (for its committed configs)."""
    return Path(__file__).resolve().parents[3]


def ucsd_split_path() -> Path:
    """The committed UCSD split."""
    return repo_root() / "configs" / "splits" / "ucsd_covid_ct.csv"


def make_ucsd_split(data: Path) -> list[dict[str, str]]:
    """Assign every UCSD patient to train, val or test by a hash of its id (so the split is stable)."""
    with open(data / "ucsd_covid_ct" / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        h = int(hashlib.sha256(r["patient_id"].encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        split = "train" if h < UCSD_SHARES[0] else "val" if h < sum(UCSD_SHARES) else "test"
        out.append({"file": r["file"], "covid": r["covid"], "patient_id": r["patient_id"], "split": split})
    return out


def read_ucsd_split(path: Path | None = None) -> list[dict[str, str]]:
    """The committed UCSD split rows: file, covid, patient_id, split."""
    path = path or ucsd_split_path()
    if not path.is_file():
        raise InputError(path, "UCSD split file missing; run `ctangel prepare --write-ucsd-split` once")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_ucsd_split(data: Path, path: Path | None = None) -> Path:
    """Write the UCSD split to ``path`` (default: the committed location)."""
    path = path or ucsd_split_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = make_ucsd_split(data)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["file", "covid", "patient_id", "split"])
        w.writeheader()
        w.writerows(rows)
    return path


@dataclass
class _Writer:
    root: Path

    def folder(self, split: str, kind: str) -> Path:
        d = self.root / f"{split}_{kind}"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def image(self, split: str, name: str, pixels: npt.NDArray[np.uint8], label: npt.NDArray[np.bool_]) -> None:
        Image.fromarray(pixels).save(self.folder(split, "images") / f"{name}.png")
        self.label(split, name, label)

    def dicom(self, split: str, name: str, source: Path, label: npt.NDArray[np.bool_]) -> None:
        link = self.folder(split, "images") / f"{name}.dcm"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(source.resolve())
        self.label(split, name, label)

    def label(self, split: str, name: str, label: npt.NDArray[np.bool_]) -> None:
        Image.fromarray(label.astype(np.uint8) * MASK_FOREGROUND).save(self.folder(split, "labels") / f"{name}.png")


def _lidc_series(data: Path, patient: str) -> tuple[list[Path], npt.NDArray[np.float32]]:
    """A LIDC patient's slices, head to feet, and their HU volume."""
    files = sorted((data / "lidc_idri_ct_dicom_c2c" / patient).glob("*.dcm"))
    dss = [(p, pydicom.dcmread(p)) for p in files]
    dss.sort(key=lambda t: -float(t[1].ImagePositionPatient[2]))
    return [p for p, _ in dss], np.stack([hu_from_dataset(ds, p) for p, ds in dss])


def _medseg(data: Path, split: str) -> Iterable[tuple[str, npt.NDArray[np.uint8], npt.NDArray[np.bool_]]]:
    root = data / "medseg_covid100_infnet" / split
    for img in sorted((root / "images").glob("*.jpg"), key=lambda p: int(p.stem)):
        pixels = TRANSPOSED.apply(read_image(img))
        lesion = TRANSPOSED.apply(read_image(root / "mask_infection" / f"{img.stem}.png")) > LABEL_THRESHOLD
        yield img.stem, pixels, lesion


def _lung_target_8bit(
    pixels: npt.NDArray[np.uint8], lesion: npt.NDArray[np.bool_] | None = None
) -> npt.NDArray[np.bool_]:
    mask = lung_mask_2d(pixels / 255.0)
    if lesion is not None:
        from scipy import ndimage as ndi

        mask = np.asarray(ndi.binary_fill_holes(mask | lesion))
    return mask


def prepare_lesion(data: Path, out: Path) -> dict[str, int]:
    """Write the lesion training folders; return the number of slices per split."""
    w = _Writer(out)
    counts: dict[str, int] = {}

    def count(split: str) -> None:
        counts[split] = counts.get(split, 0) + 1

    for stem, pixels, lesion in _medseg(data, "train"):
        split = "val" if stem in MEDSEG_VAL else "train"
        w.image(split, f"medseg__{stem}", pixels, lesion)
        count(split)
    for stem, pixels, lesion in _medseg(data, "test"):
        w.image("test", f"medseg__{stem}", pixels, lesion)
        count("test")
    for row in read_ucsd_split():
        if row["covid"] != "0":
            continue
        pixels = read_image(data / "ucsd_covid_ct" / row["file"])
        w.image(row["split"], f"ucsd__{Path(row['file']).stem}", pixels, np.zeros(pixels.shape, bool))
        count(row["split"])
    for patient, split in ((LIDC_TRAIN_PATIENT, "train"), (LIDC_TEST_PATIENT, "test")):
        files, vol = _lidc_series(data, patient)
        for k, src in enumerate(files):
            w.dicom(split, f"{patient.lower()}__{k:03d}", src, np.zeros(vol.shape[1:], bool))
            count(split)
    pet = data / PET_CT_HOST
    if pet.is_dir():
        for src in sorted(pet.rglob("*.dcm")):
            w.dicom("train", f"petct__{src.stem}", src, np.zeros(read_dicom_slice(src).shape, bool))
            count("train")
    mosmed = data / MOSMED_MASKS
    if mosmed.is_dir():
        build_shape_bank(mosmed).save(out / SHAPE_BANK_NAME)
    return counts


def prepare_lung(data: Path, out: Path, montage: bool = True) -> dict[str, int]:
    """Write the lung training folders with classical lung masks as labels; return slices per split.

    Also writes ``montage_{split}.png`` with the masks' outlines, for checking them by eye.
    """
    w = _Writer(out)
    counts: dict[str, int] = {}
    shown: dict[str, list[tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]]] = {}

    def add(split: str, name: str, pixels01: npt.NDArray[np.float32], mask: npt.NDArray[np.bool_]) -> None:
        counts[split] = counts.get(split, 0) + 1
        if counts[split] % 13 == 1:
            shown.setdefault(split, []).append((pixels01, mask))

    for patient, split in ((LIDC_TRAIN_PATIENT, "train"), (LIDC_TEST_PATIENT, "test")):
        files, vol = _lidc_series(data, patient)
        masks = lung_mask_volume(vol)
        for k, src in enumerate(files):
            name = f"{patient.lower()}__{k:03d}"
            w.dicom(split, name, src, masks[k])
            add(split, name, window_hu(vol[k], Window()), masks[k])
    for medseg_split in ("train", "test"):
        for stem, pixels, lesion in _medseg(data, medseg_split):
            split = "test" if medseg_split == "test" else ("val" if stem in MEDSEG_VAL else "train")
            mask = _lung_target_8bit(pixels, lesion)
            w.image(split, f"medseg__{stem}", pixels, mask)
            add(split, stem, (pixels / np.float32(255)).astype(np.float32), mask)
    for volume, rows in ma_volumes(data).items():
        split = "val" if volume in MA_LUNG_VAL_VOLUMES else "train"
        orient = ma_orientation(volume)
        for r in rows[::MA_LUNG_STRIDE]:
            pixels = orient.apply(read_image(data / "ma_covid19ctseg_slices_infnet" / r["file"]))
            mask = _lung_target_8bit(pixels)
            name = f"ma__{Path(r['file']).stem}"
            w.image(split, name, pixels, mask)
            add(split, name, (pixels / np.float32(255)).astype(np.float32), mask)
    for row in read_ucsd_split():
        pixels = read_image(data / "ucsd_covid_ct" / row["file"])
        mask = _lung_target_8bit(pixels)
        name = f"ucsd__{'c' if row['covid'] == '1' else 'n'}__{Path(row['file']).stem}"
        w.image(row["split"], name, pixels, mask)
        add(row["split"], name, (pixels / np.float32(255)).astype(np.float32), mask)
    if montage:
        for split, items in shown.items():
            write_montage(items, out / f"montage_{split}.png")
    logger.info("lung targets: air below %s HU for DICOM, Otsu for 8-bit slices", AIR_THRESHOLD_HU)
    return counts


def write_montage(
    items: list[tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]],
    path: Path,
    tile: int = 128,
    cols: int = 12,
) -> None:
    """Tiles of slices (0..1) with their mask outlines in red, for inspection by eye."""
    from scipy import ndimage as ndi

    rows = (len(items) + cols - 1) // cols
    canvas = np.zeros((rows * tile, cols * tile, 3), np.uint8)
    for i, (img, mask) in enumerate(items):
        rgb = np.repeat((np.clip(img, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2)
        edge = mask & ~ndi.binary_erosion(mask, iterations=max(1, max(mask.shape) // 150))
        rgb[edge] = (255, 0, 0)
        small = np.asarray(Image.fromarray(rgb).resize((tile, tile)))
        r, c = divmod(i, cols)
        canvas[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = small
    Image.fromarray(canvas).save(path)


def prepare_all(data: Path, out: Path) -> dict[str, dict[str, int]]:
    """Write ``out/lung`` and ``out/lesion``; return their slice counts per split.

    Raises:
        InputError: ``data`` is not the shared data folder.
    """
    if not (data / "medseg_covid100_infnet").is_dir():
        raise InputError(data, "not the shared data folder (medseg_covid100_infnet/ missing); pass --shared-data")
    return {"lung": prepare_lung(data, out / "lung"), "lesion": prepare_lesion(data, out / "lesion")}
