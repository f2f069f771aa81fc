from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from typer.testing import CliRunner

from ctangel.errors import ConfigError
from ctangel.synthetic import (
    Compression,
    LesionKind,
    Phantom,
    make_phantom,
    write_dicom_series,
    write_phantom,
)
from ctangel.synthetic.anatomy import (
    HEART_CENTRE_MM,
    PADDING_HU,
    VERTEBRA_CENTRE_Y_MM,
    VERTEBRA_PITCH_MM,
)
from ctangel.synthetic.dicom_writer import PATIENT_ID

#: Slices of the phantom most tests look at (13.3 mm apart), and of the one written to disk (40 mm apart).
SLICES = 24
FEW_SLICES = 8
MIDLINE_COL = 255.5


@pytest.fixture(scope="module")
def phantom() -> Phantom:
    return make_phantom(SLICES, seed=0)


@pytest.fixture(scope="module")
def small() -> Phantom:
    return make_phantom(FEW_SLICES, seed=0)


def _pixel(ph: Phantom, x_mm: float, y_mm: float) -> tuple[int, int]:
    """(row, col) of the pixel at (x, y) mm from the image centre."""
    half = (ph.hu.shape[2] - 1) / 2
    return round(y_mm / ph.pixel_spacing_mm + half), round(x_mm / ph.pixel_spacing_mm + half)


def _slice_at(ph: Phantom, z_mm: float) -> int:
    return round(z_mm / ph.slice_spacing_mm - 0.5)


# --- determinism -----------------------------------------------------------------------------------
def test_same_seed_gives_the_same_volume_and_another_seed_does_not(small: Phantom) -> None:
    again = make_phantom(FEW_SLICES, seed=0)
    assert np.array_equal(small.hu, again.hu)
    assert np.array_equal(small.lesion_labels, again.lesion_labels)
    assert np.array_equal(small.lung_mask, again.lung_mask)
    other = make_phantom(FEW_SLICES, seed=1)
    assert not np.array_equal(small.hu, other.hu)
    assert small.hu.dtype == np.int16 and small.hu.shape == (FEW_SLICES, 512, 512)


def test_slice_count_out_of_range_is_refused() -> None:
    with pytest.raises(ConfigError, match="--slices"):
        make_phantom(2)


# --- Hounsfield units by region --------------------------------------------------------------------
def test_air_and_padding(phantom: Phantom) -> None:
    assert np.all(phantom.hu[:, 0, 0] == PADDING_HU)  # the corner is outside the field of view
    air = phantom.hu[:, 5:40, 236:276]  # in front of the body, inside the field of view
    assert abs(float(np.median(air)) + 1000) <= 5
    assert 5 <= float(air.std()) <= 30  # noise


def test_lung_parenchyma_soft_tissue_and_bone(phantom: Phantom) -> None:
    parenchyma = phantom.hu[phantom.lung_mask & ~phantom.lesion_mask]
    assert -900 <= float(np.median(parenchyma)) <= -750

    row, col = _pixel(phantom, HEART_CENTRE_MM[0], HEART_CENTRE_MM[1])
    heart = phantom.hu[_slice_at(phantom, HEART_CENTRE_MM[2]), row - 5 : row + 5, col - 5 : col + 5]
    assert 0 <= float(np.median(heart)) <= 80

    # A vertebral body away from its discs.
    z = next(
        phantom.z_mm(i)
        for i in range(phantom.n_slices // 2, phantom.n_slices)
        if 0.3 < (phantom.z_mm(i) / VERTEBRA_PITCH_MM) % 1 < 0.8
    )
    row, col = _pixel(phantom, 0.0, VERTEBRA_CENTRE_Y_MM)
    vertebra = phantom.hu[_slice_at(phantom, z), row - 5 : row + 5, col - 5 : col + 5]
    assert float(np.median(vertebra)) > 300


def test_lesion_densities(phantom: Phantom) -> None:
    kinds = {lesion.kind for lesion in phantom.lesions}
    assert kinds == {LesionKind.ggo, LesionKind.consolidation}
    for lesion in phantom.lesions:
        values = phantom.hu[phantom.lesion_labels == lesion.label]
        assert values.size > 0, f"lesion {lesion.label} has no pixels"
        median = float(np.median(values))
        if lesion.kind is LesionKind.ggo:
            assert -700 <= median <= -300, (lesion.label, median)
        else:
            assert median > -150, (lesion.label, median)


# --- orientation -----------------------------------------------------------------------------------
def test_spine_at_the_bottom_heart_on_the_right_head_first(phantom: Phantom) -> None:
    mid = phantom.n_slices // 2
    bone_rows, bone_cols = np.nonzero(phantom.hu[mid] > 300)
    assert bone_rows.size
    near_midline = np.abs(bone_cols - MIDLINE_COL) < 20
    assert np.median(bone_rows[near_midline]) > 300  # the vertebra, at the back (image bottom)

    # Soft tissue between the lungs leans to the image's right (the patient's left): the heart.
    heart_slice = _slice_at(phantom, HEART_CENTRE_MM[2])
    lung_rows, lung_cols = np.nonzero(phantom.lung_mask[heart_slice])
    region = phantom.hu[heart_slice, lung_rows.min() : lung_rows.max(), lung_cols.min() : lung_cols.max()]
    lung_region = phantom.lung_mask[heart_slice, lung_rows.min() : lung_rows.max(), lung_cols.min() : lung_cols.max()]
    soft = (region > -50) & (region < 100) & ~lung_region
    _, soft_cols = np.nonzero(soft)
    assert soft_cols.mean() + lung_cols.min() > MIDLINE_COL + 15

    lung_area = phantom.lung_mask.sum(axis=(1, 2))
    assert lung_area[0] < lung_area[mid]
    assert lung_area[0] == 0  # the top slice is the neck


def test_right_lung_is_larger(phantom: Phantom) -> None:
    cols = np.arange(phantom.hu.shape[2])
    right = (phantom.lung_mask & (cols < MIDLINE_COL)).sum()  # the patient's right: image left
    left = (phantom.lung_mask & (cols > MIDLINE_COL)).sum()
    assert right > left


# --- which slices hold what ------------------------------------------------------------------------
def test_slices_with_and_without_lung_and_lesions(phantom: Phantom) -> None:
    has_lung = phantom.lung_mask.any(axis=(1, 2))
    has_lesion = phantom.lesion_mask.any(axis=(1, 2))
    assert has_lung.any() and not has_lung.all()
    assert not has_lung[0] and not has_lung[-1]  # neck at the top, upper abdomen at the bottom
    assert has_lesion.any()
    lesion_free_lung = has_lung & ~has_lesion
    assert lesion_free_lung.sum() >= 0.3 * has_lung.sum()
    assert not (has_lesion & ~has_lung).any()


def test_lesions_lie_inside_the_lungs_near_the_pleura(phantom: Phantom) -> None:
    mask = phantom.lesion_mask
    assert mask.sum() > 0
    assert not (mask & ~phantom.lung_mask).any()
    # Some consolidation reaches the pleura: one of its pixels has a neighbour outside the lungs.
    outside = ~phantom.lung_mask
    next_to_outside = np.zeros_like(outside)
    next_to_outside[:, 1:, :] |= outside[:, :-1, :]
    next_to_outside[:, :-1, :] |= outside[:, 1:, :]
    next_to_outside[:, :, 1:] |= outside[:, :, :-1]
    next_to_outside[:, :, :-1] |= outside[:, :, 1:]
    consolidation = [les.label for les in phantom.lesions if les.kind is LesionKind.consolidation]
    assert (np.isin(phantom.lesion_labels, consolidation) & next_to_outside).any()


def test_lesion_list_matches_the_mask(phantom: Phantom) -> None:
    ranges = phantom.slice_ranges()
    assert set(ranges) == {les.label for les in phantom.lesions}
    for lesion in phantom.lesions:
        first, last = ranges[lesion.label]
        s, row, col = phantom.centre_voxel(lesion)
        assert first <= round(s) <= last
        assert phantom.lesion_labels[round(s), round(row), round(col)] == lesion.label
        assert phantom.lung_mask[round(s), round(row), round(col)]


# --- DICOM -----------------------------------------------------------------------------------------
def test_dicom_round_trip_layout_and_stable_uids(small: Phantom, tmp_path: Path) -> None:
    files = write_phantom(small, tmp_path / "a")
    again = write_phantom(small, tmp_path / "b")
    assert [f.name for f in files.dicom_files] == [f"IM{i:06d}.dcm" for i in range(1, FEW_SLICES + 1)]
    assert sorted(p.name for p in files.series_dir.iterdir()) == [f.name for f in files.dicom_files]

    positions = []
    for i, (path, path_b) in enumerate(zip(files.dicom_files, again.dicom_files, strict=True)):
        assert path.read_bytes() == path_b.read_bytes()  # UIDs and all: identical across runs
        ds = pydicom.dcmread(path)
        hu = ds.pixel_array.astype(np.int32) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)
        assert np.array_equal(hu, small.hu[i])
        assert ds.Modality == "CT" and ds.SOPClassUID == pydicom.uid.CTImageStorage
        assert ds.PatientID == PATIENT_ID and int(ds.InstanceNumber) == i + 1
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert float(ds.PixelSpacing[0]) == pytest.approx(small.pixel_spacing_mm)
        assert float(ds.SliceThickness) == pytest.approx(small.slice_spacing_mm)
        assert int(ds.RescaleIntercept) == -1024
        positions.append(float(ds.ImagePositionPatient[2]))
    assert np.all(np.diff(positions) < 0)  # head to feet: z decreases
    assert np.allclose(np.diff(positions), -small.slice_spacing_mm)

    first = pydicom.dcmread(files.dicom_files[0])
    second = pydicom.dcmread(files.dicom_files[1])
    assert first.SeriesInstanceUID == second.SeriesInstanceUID
    assert first.StudyInstanceUID == second.StudyInstanceUID
    assert first.FrameOfReferenceUID == second.FrameOfReferenceUID
    assert first.SOPInstanceUID != second.SOPInstanceUID


def test_truth_beside_the_series(small: Phantom, tmp_path: Path) -> None:
    files = write_phantom(small, tmp_path)
    truth = files.truth_dir
    assert truth.parent == files.series_dir.parent
    with open(truth / "slices.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["source"] for r in rows] == [f"series/IM{i:06d}.dcm" for i in range(1, FEW_SLICES + 1)]
    assert all((tmp_path / r["source"]).is_file() for r in rows)
    expected = small.lesion_mask.any(axis=(1, 2))
    assert [int(r["label"]) for r in rows] == [int(v) for v in expected]
    assert {r["patient"] for r in rows} == {PATIENT_ID}
    for i in range(FEW_SLICES):
        label = np.asarray(Image.open(truth / "labels" / f"IM{i + 1:06d}.png"))
        assert label.shape == (512, 512) and set(np.unique(label)) <= {0, 255}
        assert np.array_equal(label == 255, small.lesion_mask[i])
    lesions = json.loads((truth / "lesions.json").read_text())
    assert len(lesions["lesions"]) == len(small.lesions)
    assert {les["kind"] for les in lesions["lesions"]} == {"ggo", "consolidation"}


@pytest.mark.parametrize("compression", [Compression.rle, Compression.jpeg2000])
def test_compressed_series_decodes_equal(small: Phantom, compression: Compression, tmp_path: Path) -> None:
    two = dataclasses.replace(small, hu=small.hu[3:5], lung_mask=small.lung_mask[3:5])
    paths = write_dicom_series(two, tmp_path, compression)
    for i, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        assert ds.file_meta.TransferSyntaxUID.is_compressed
        hu = ds.pixel_array.astype(np.int32) + int(ds.RescaleIntercept)
        assert np.array_equal(hu, two.hu[i])


# --- command line ----------------------------------------------------------------------------------
def test_cli_writes_the_series_and_the_truth(small: Phantom, tmp_path: Path) -> None:
    from ctangel.cli.main import app

    result = CliRunner().invoke(app, ["phantom", "--out", str(tmp_path), "--slices", str(FEW_SLICES)])
    assert result.exit_code == 0, result.output
    assert "series" in result.output and "truth" in result.output
    dicoms = sorted((tmp_path / "series").glob("*.dcm"))
    assert len(dicoms) == FEW_SLICES
    assert len(list((tmp_path / "truth" / "labels").glob("*.png"))) == FEW_SLICES
    assert (tmp_path / "truth" / "lesions.json").is_file()
    ds = pydicom.dcmread(dicoms[0])
    assert np.array_equal(ds.pixel_array.astype(np.int32) - 1024, small.hu[0])
