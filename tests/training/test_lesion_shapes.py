from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from ctangel.errors import InputError
from ctangel.training.lesion_shapes import (
    Pattern,
    RealLesionConfig,
    ShapeBank,
    build_shape_bank,
    draw_real_lesions,
    map_shapes,
    mosmed_display_slices,
)

SIDE = 512


def write_mask(path: Path, blobs: list[tuple[int, int, int]]) -> None:
    """A MosMed-like mask: RAS+ with the first axis toward the patient's left (codes L, A, S), 4 slices.

    Each blob ``(i, j, k)`` is a 20x20 square at voxel ``i`` (toward the left), ``j`` (toward the front) on
    slice ``k`` (toward the head).
    """
    data = np.zeros((SIDE, SIDE, 4), np.int16)
    for i, j, k in blobs:
        data[i : i + 20, j : j + 20, k] = 1
    affine = np.diag([-0.7, 0.7, 8.0, 1.0])  # x grows toward the right: the voxel axis points left (L)
    nib.save(nib.Nifti1Image(data, affine), str(path))


def test_display_orientation_puts_the_front_up_and_the_patients_left_on_the_right(tmp_path: Path) -> None:
    write_mask(tmp_path / "study_0001_mask.nii.gz", [(400, 400, 3)])  # far left, far front, top slice
    vol = mosmed_display_slices(tmp_path / "study_0001_mask.nii.gz")
    assert vol.shape == (4, SIDE, SIDE)
    k, rows, cols = np.nonzero(vol)
    assert set(k) == {0}  # the top slice comes first (head to feet)
    assert rows.max() < SIDE // 2  # anterior: top of the image
    assert cols.min() > SIDE // 2  # patient's left: right of the image


def test_bank_round_trip_and_envelopes(tmp_path: Path) -> None:
    write_mask(tmp_path / "study_0001_mask.nii.gz", [(100, 100, 1), (400, 300, 2)])
    write_mask(tmp_path / "study_0002_mask.nii.gz", [(150, 250, 0)])
    bank = build_shape_bank(tmp_path)
    assert len(bank) == 3
    left_half, right_half = bank.envelopes
    assert left_half[2] <= SIDE // 2 + 1 and right_half[0] >= SIDE // 2 - 1
    again = ShapeBank.load(bank.save(tmp_path / "bank.npz"))
    np.testing.assert_array_equal(again.masks, bank.masks)
    np.testing.assert_allclose(again.envelopes, bank.envelopes)


def test_an_empty_folder_and_a_damaged_bank_are_errors_that_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no 512x512 lesion mask"):
        build_shape_bank(tmp_path)
    (tmp_path / "bad.npz").write_bytes(b"not a bank")
    with pytest.raises(InputError, match=r"bad\.npz"):
        ShapeBank.load(tmp_path / "bad.npz")


def two_lungs() -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.mgrid[:SIDE, :SIDE]
    lung = (((rows - 256) / 150) ** 2 + ((cols - 150) / 90) ** 2 < 1) | (
        ((rows - 256) / 150) ** 2 + ((cols - 362) / 90) ** 2 < 1
    )
    hu = np.where(lung, -860.0, 40.0).astype(np.float32)
    hu[250:254, 100:200] = 30.0  # a vessel
    return hu, lung


def bank_of_squares() -> ShapeBank:
    masks = np.zeros((1, SIDE, SIDE), bool)
    masks[0, 150:200, 100:150] = True  # in the envelope of the image's left half
    masks[0, 300:340, 350:400] = True  # in the right half's
    return ShapeBank(masks, np.array([[50.0, 100.0, 250.0, 420.0], [262.0, 100.0, 462.0, 420.0]]))


def test_shapes_land_inside_the_host_lungs_on_both_sides() -> None:
    _, lung = two_lungs()
    bank = bank_of_squares()
    soft = map_shapes(bank.masks[0], bank.envelopes, lung, np.random.default_rng(0))
    hard = soft >= 0.5
    assert hard[:, : SIDE // 2].any() and hard[:, SIDE // 2 :].any()
    assert not (hard & ~lung).any()


@pytest.mark.parametrize(
    ("pattern", "low", "high"),
    [
        (Pattern(1, 0, 0, 0), -790, -580),  # faint ground glass: +100..250 HU over -860
        (Pattern(0, 1, 0, 0), -640, -380),
        (Pattern(0, 0, 0, 1), -150, 100),  # consolidation: soft tissue
    ],
)
def test_each_pattern_has_its_density_and_only_the_lung_changes(pattern: Pattern, low: float, high: float) -> None:
    hu, lung = two_lungs()
    cfg = RealLesionConfig(pattern=pattern, jitter=0.0, texture_hu=0.0)
    out, label = draw_real_lesions(hu, lung, bank_of_squares(), cfg, np.random.default_rng(3))
    assert label.any() and not (label & ~lung).any()
    assert not (np.abs(out - hu) > 1e-3)[~lung].any()
    core = label & (hu < -300)
    assert low < float(np.median(out[core])) < high
    if pattern.consolidation == 0:
        vessel = hu > -300
        np.testing.assert_array_equal(out[vessel], hu[vessel])  # vessels show through ground glass
