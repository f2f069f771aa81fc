from __future__ import annotations

import numpy as np
import pytest

from ctangel.inference.lung3d import clean_lung_volume, drop_air_components
from ctangel.inference.spill import GridFile, SliceFile
from ctangel.inference.stages import is_turned


def _lungs(slices: int = 10) -> np.ndarray:
    vol = np.zeros((slices, 32, 32), bool)
    vol[1:9, 8:24, 4:14] = True  # right lung
    vol[1:9, 8:24, 18:28] = True  # left lung
    vol[0, 15:17, 15:17] = True  # the trachea above the lungs
    vol[1, 14:17, 14:18] = True  # its carina, joining them
    return vol


def test_clean_lung_volume_drops_gas_that_is_not_connected_to_the_lungs() -> None:
    vol = _lungs()
    vol[9, 2:6, 2:6] = True  # 16 voxels of bowel gas below the lungs, apart from them
    out = clean_lung_volume(vol, min_volume_fraction=0.1, min_slice_fraction=0.03)
    assert not out[9].any()
    assert out[1:9].sum() == vol[1:9].sum()


def test_clean_lung_volume_empties_slices_with_only_the_trachea() -> None:
    out = clean_lung_volume(_lungs(), min_volume_fraction=0.1, min_slice_fraction=0.03)
    assert not out[0].any()  # 4 px of trachea against 332 px of lung: the neck has no lung
    assert out[1].any()


def test_clean_lung_volume_fills_holes_in_each_slice() -> None:
    vol = _lungs()
    vol[4, 12:15, 7:10] = False  # a dense lesion inside the right lung
    out = clean_lung_volume(vol, 0.1, 0.03)
    assert out[4, 12:15, 7:10].all()


def test_clean_lung_volume_of_an_empty_series_is_empty() -> None:
    assert not clean_lung_volume(np.zeros((3, 8, 8), bool), 0.1, 0.03).any()


def test_drop_air_components_removes_pure_air_and_keeps_aerated_lung() -> None:
    mask = np.zeros((32, 32), bool)
    hu = np.full((32, 32), 40.0, np.float32)
    mask[4:14, 4:14] = True
    hu[4:14, 4:14] = -860.0  # lung parenchyma
    mask[20:28, 20:28] = True
    hu[20:28, 20:28] = -1000.0  # stomach gas
    drop_air_components(mask, hu, -950.0)
    assert mask[4:14, 4:14].all()
    assert not mask[20:28, 20:28].any()


def test_is_turned_sees_lungs_one_above_the_other() -> None:
    upright = np.zeros((40, 60), bool)
    upright[10:30, 5:25] = True
    upright[10:30, 35:55] = True
    assert not is_turned(upright, 0.1)
    assert is_turned(np.ascontiguousarray(upright.T), 0.1)
    assert not is_turned(np.zeros((10, 10), bool), 0.1)


def _clean_in_memory(masks: np.ndarray, min_volume_fraction: float, min_slice_fraction: float) -> np.ndarray:
    """The whole-volume implementation clean_lung_volume had before it went a slab at a time."""
    from scipy import ndimage as ndi

    labels, n = ndi.label(masks, structure=ndi.generate_binary_structure(3, 1))
    if n == 0:
        return masks.copy()
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    keep = sizes >= min_volume_fraction * sizes.max()
    keep[0] = False
    out = keep[labels]
    areas = out.sum(axis=(1, 2))
    out[areas < min_slice_fraction * areas.max()] = False
    for k in np.nonzero(out.any(axis=(1, 2)))[0]:
        out[k] = ndi.binary_fill_holes(out[k])
    return out


@pytest.mark.parametrize("slab", [3, 64])
def test_clean_lung_volume_a_slab_at_a_time_equals_the_whole_volume(slab: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from scipy import ndimage as ndi

    from ctangel.anatomy import lungs

    monkeypatch.setattr(lungs, "SLAB_SLICES", slab)
    rng = np.random.default_rng(slab)
    for _ in range(20):
        vol = ndi.binary_opening(rng.random((int(rng.integers(1, 20)), 16, 16)) < 0.55)
        expected = _clean_in_memory(vol, 0.1, 0.03)
        np.testing.assert_array_equal(clean_lung_volume(vol, 0.1, 0.03), expected)


def test_grid_file_keeps_appended_grids_and_rewrites_slabs() -> None:
    store = GridFile(4)
    grids = np.arange(5 * 16, dtype=np.uint8).reshape(5, 4, 4)
    for g in grids:
        store.append(g)
    assert len(store) == 5
    np.testing.assert_array_equal(store.read(slice(1, 4)), grids[1:4])
    store.write(slice(2, 4), np.zeros((2, 4, 4), np.uint8))
    np.testing.assert_array_equal(store.read(slice(0, 5))[2:4], 0)
    np.testing.assert_array_equal(store.read(slice(4, 5))[0], grids[4])
    store.close()


def test_slice_file_gives_back_each_slice_as_it_was_put() -> None:
    store = SliceFile()
    hu = np.arange(-1024, -1024 + 12, dtype=np.float32).reshape(3, 4)  # whole numbers: stored as int16
    frac = hu + np.float32(0.25)  # not whole: stored as float32
    img = np.arange(6, dtype=np.uint8).reshape(2, 3)
    for i, a in enumerate((hu, frac, img)):
        store.put(i, a)
    for i, a in enumerate((hu, frac, img)):
        back = store.get(i)
        assert back.dtype == a.dtype and back.shape == a.shape
        np.testing.assert_array_equal(back, a)
    assert 1 in store and 3 not in store
    store.close()
