from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import numpy.typing as npt
import pytest

from ctangel.errors import InputError
from ctangel.io import Study, discover, mask_to_nifti, read_nifti, save_mask_nifti
from ctangel.io import nifti as nifti_module

N, ROWS, COLS = 4, 3, 5
DX, DY, DZ = 0.8, 0.6, 2.5
ORIGIN = np.array([-10.0, 20.0, 30.0])
SLOPE, INTER = 2.0, -1000.0


def display_truth() -> npt.NDArray[np.int16]:
    """What the display slices must hold: slice k (head first), row i (front first), col j (right first)."""
    k, i, j = np.mgrid[0:N, 0:ROWS, 0:COLS]
    return (100 * k + 10 * i + j).astype(np.int16)


def _affine(columns: list[list[float]]) -> npt.NDArray[np.float64]:
    affine = np.eye(4)
    affine[:3, :3] = np.array(columns).T  # column a: the RAS step of file axis a
    affine[:3, 3] = ORIGIN
    return affine


def storage_cases() -> dict[str, tuple[npt.NDArray[np.int16], npt.NDArray[np.float64], list[int]]]:
    """The truth stored four ways: ``(file array, affine, file slice index of display slice k)``."""
    v = display_truth().transpose(2, 1, 0)  # (col j: toward L, row i: toward P, k: toward I)
    ras = v[::-1, ::-1, ::-1]  # axes toward R, A, S
    head_last = [N - 1 - k for k in range(N)]
    return {
        "RAS": (ras, _affine([[DX, 0, 0], [0, DY, 0], [0, 0, DZ]]), head_last),
        "LPS": (v[:, :, ::-1], _affine([[-DX, 0, 0], [0, -DY, 0], [0, 0, DZ]]), head_last),
        "LPI": (v, _affine([[-DX, 0, 0], [0, -DY, 0], [0, 0, -DZ]]), list(range(N))),
        # axes stored (S, A, R): the slice axis is the file's first
        "SAR": (ras.transpose(2, 1, 0), _affine([[0, 0, DZ], [0, DY, 0], [DX, 0, 0]]), head_last),
    }


def write(path: Path, array: npt.NDArray[np.int16], affine: npt.NDArray[np.float64]) -> Path:
    image = nib.Nifti1Image(np.ascontiguousarray(array), affine)
    image.header.set_slope_inter(SLOPE, INTER)
    image.set_qform(affine, code=1)
    nib.save(image, path)
    return path


@pytest.mark.parametrize("case", ["RAS", "LPS", "LPI", "SAR"])
def test_display_slices_whatever_the_storage(tmp_path: Path, case: str) -> None:
    array, affine, file_index = storage_cases()[case]
    path = write(tmp_path / f"{case}.nii.gz", array, affine)
    study = read_nifti(path)
    truth = display_truth()
    assert len(study) == N
    for k in range(N):
        np.testing.assert_array_equal(study.read(k), truth[k] * SLOPE + INTER)
        assert study.read(k).dtype == np.float32
    assert study.sources == [f"{path}#{f}" for f in file_index]
    assert (study.kind, study.is_volume, study.patient_id, study.input) == ("hu", True, case, str(path))
    assert study.pixel_spacing_mm == pytest.approx((DY, DX))
    assert study.slice_spacing_mm == pytest.approx(DZ)
    assert study.affine is not None
    assert nib.aff2axcodes(study.affine) == ("L", "P", "I")
    # display voxel (j, i, k) and the file voxel holding the same value lie at the same RAS point
    for k, i, j in [(0, 0, 0), (3, 2, 4), (1, 2, 0)]:
        (file_voxel,) = np.argwhere(array == truth[k, i, j])
        np.testing.assert_allclose(study.affine @ [j, i, k, 1], affine @ [*file_voxel, 1])


@pytest.mark.parametrize("case", ["RAS", "SAR"])
def test_mask_round_trip_lands_on_the_input_grid(tmp_path: Path, case: str) -> None:
    array, affine, _ = storage_cases()[case]
    path = write(tmp_path / "in.nii", array, affine)
    study = read_nifti(path)
    threshold = 150 * SLOPE + INTER
    image = mask_to_nifti(study, (study.read(k) > threshold for k in range(len(study))))
    assert image.shape == array.shape
    np.testing.assert_allclose(image.affine, affine)
    assert int(image.header["qform_code"]) == 1
    np.testing.assert_array_equal(np.asanyarray(image.dataobj), (array * SLOPE + INTER > threshold).astype(np.uint8))
    saved = nib.load(
        save_mask_nifti(study, (study.read(k) > threshold for k in range(len(study))), tmp_path / "m.nii.gz")
    )
    assert isinstance(saved, nib.Nifti1Image)
    assert saved.get_data_dtype() == np.uint8
    np.testing.assert_allclose(saved.affine, affine)


def test_mask_shape_is_checked(tmp_path: Path) -> None:
    array, affine, _ = storage_cases()["RAS"]
    study = read_nifti(write(tmp_path / "in.nii", array, affine))
    with pytest.raises(ValueError, match="shape"):
        mask_to_nifti(study, [np.zeros((COLS, ROWS), bool)] * N)


def test_compressed_volume_is_read_in_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nifti_module, "NIFTI_GZ_BLOCK_VOXELS", 2 * ROWS * COLS)  # two slices a block
    array, affine, _ = storage_cases()["RAS"]
    study = read_nifti(write(tmp_path / "in.nii.gz", array, affine))
    truth = display_truth() * SLOPE + INTER
    for k in [0, 3, 1, 2, 0]:
        np.testing.assert_array_equal(study.read(k), truth[k])


def test_singleton_fourth_axis_is_3d_but_a_time_series_is_not(tmp_path: Path) -> None:
    array, affine, _ = storage_cases()["LPI"]
    study = read_nifti(write(tmp_path / "one.nii", array[..., None], affine))
    np.testing.assert_array_equal(study.read(0), display_truth()[0] * SLOPE + INTER)
    write(tmp_path / "four.nii", np.stack([array, array], axis=-1), affine)
    with pytest.raises(InputError, match=r"four\.nii.*4-D"):
        read_nifti(tmp_path / "four.nii")
    nib.save(nib.Nifti1Image(np.zeros((4, 5), np.int16), np.eye(4)), tmp_path / "flat.nii")
    with pytest.raises(InputError, match=r"flat\.nii.*2-D"):
        read_nifti(tmp_path / "flat.nii")


def test_damaged_files(tmp_path: Path) -> None:
    array, affine, _ = storage_cases()["RAS"]
    whole = write(tmp_path / "whole.nii", array, affine).read_bytes()
    (tmp_path / "cut.nii").write_bytes(whole[:-20])
    noise = np.random.default_rng(0).integers(-1000, 1000, size=(40, 40, 10)).astype(np.int16)
    big = write(tmp_path / "big.nii.gz", noise, affine).read_bytes()
    (tmp_path / "big.nii.gz").unlink()
    (tmp_path / "cut.nii.gz").write_bytes(big[: len(big) // 2])  # the header is there, half the voxels not
    (tmp_path / "junk.nii.gz").write_bytes(b"not gzip at all")
    with pytest.raises(InputError, match=r"cut\.nii.*truncated"):
        read_nifti(tmp_path / "cut.nii")
    with pytest.raises(InputError, match=r"junk\.nii\.gz"):
        read_nifti(tmp_path / "junk.nii.gz")
    found = {
        Path(item.path if isinstance(item, InputError) else item.input).name: item for item in discover([tmp_path])
    }
    assert isinstance(found["cut.nii"], InputError) and isinstance(found["junk.nii.gz"], InputError)
    cut_gz = found["cut.nii.gz"]
    assert isinstance(cut_gz, Study)  # the header reads; the data fails when read
    with pytest.raises(InputError, match=r"cut\.nii\.gz"):
        list(cut_gz)
