"""Lungs told apart, lobes/zones, the severity score, on tiny hand-made masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ctangel.anatomy import AnatomyCollector, severity_score
from ctangel.anatomy.lungs import LEFT, RIGHT, split_lungs
from ctangel.anatomy.packed import PackedMasks
from ctangel.errors import OutputError


@pytest.mark.parametrize(
    ("percent", "score"),
    [(0.0, 0), (0.01, 1), (4.99, 1), (5.0, 2), (25.0, 2), (25.1, 3), (50.0, 3), (50.5, 4), (75.0, 4), (75.1, 5)],
)
def test_severity_score_follows_pan_et_al(percent: float, score: int) -> None:
    assert severity_score(percent) == score


def test_packed_masks_round_trip_and_cost_a_bit_per_pixel() -> None:
    rng = np.random.default_rng(0)
    mask = rng.random((64, 48)) > 0.5
    packed = PackedMasks()
    packed.put(3, mask)
    packed.put(4, np.zeros((10, 10), dtype=bool))
    assert np.array_equal(packed.get(3), mask)
    assert packed.get(4).shape == (10, 10) and not packed.get(4).any()
    assert packed.nbytes == 64 * 48 // 8
    assert packed.indices() == [3, 4] and packed.count(3) == int(mask.sum())


def two_lungs(slices: int = 12, joined: bool = False) -> np.ndarray:
    """Right lung at columns 4..27, left at 36..59 (display: patient's left on the image's right)."""
    vol = np.zeros((slices, 40, 64), dtype=bool)
    vol[:, 5:35, 4:28] = True
    vol[:, 5:35, 36:60] = True
    if joined:
        vol[:, 15:18, 28:36] = True  # a 3-row bridge in front of the heart
    return vol


@pytest.mark.parametrize("joined", [False, True])
def test_split_puts_the_image_left_lung_on_the_patient_right(joined: bool) -> None:
    split = split_lungs(two_lungs(joined=joined), factor=1)
    assert split.method == ("eroded 2" if joined else "components")
    labels = split.labels
    assert (labels[:, 5:35, 4:28] == RIGHT).all()
    assert (labels[:, 5:35, 36:60] == LEFT).all()
    assert 28 <= split.midline_px <= 36


def feed(collector: AnatomyCollector, lungs: np.ndarray, lesion: np.ndarray) -> None:
    for i in range(lungs.shape[0]):
        collector.add(i, lungs[i], lesion[i])


def test_zones_are_thirds_by_height_and_scores_add_up() -> None:
    lungs = two_lungs(slices=12)
    lesion = np.zeros_like(lungs)
    lesion[0:4, 5:35, 4:10] = True  # right upper third: 6 of 24 columns = 25 %
    lesion[8:12, 5:35, 36:60] = True  # left lower third, all of it
    collector = AnatomyCollector("zones", is_volume=True)
    feed(collector, lungs, lesion)
    anatomy = collector.finish(voxel_volume_ml=0.002)
    doc = anatomy.to_dict()
    by_key = {r["key"]: r for r in doc["regions"]}
    assert doc["regions_method"] == "zones" and doc["severity_score_max"] == 30
    assert by_key["RUZ"]["lung_px"] == 4 * 30 * 24
    assert by_key["RUZ"]["involvement_percent"] == 25.0 and by_key["RUZ"]["score"] == 2
    assert by_key["LLZ"]["involvement_percent"] == 100.0 and by_key["LLZ"]["score"] == 5
    assert doc["severity_score"] == 7
    assert by_key["LLZ"]["lesion_volume_ml"] == round(4 * 30 * 24 * 0.002, 2)
    assert doc["slices"]["lesion_px_right"][:4] == [180] * 4 and doc["slices"]["lesion_px_left"][8:] == [720] * 4
    assert doc["lungs"]["left"]["lesion_px"] == 4 * 720


def test_lobes_put_the_back_of_the_base_in_the_lower_lobe_and_the_front_in_the_middle() -> None:
    lungs = two_lungs(slices=20)
    collector = AnatomyCollector("lobes", is_volume=True)
    feed(collector, lungs, np.zeros_like(lungs))
    doc = collector.finish(None).to_dict()
    assert [r["key"] for r in doc["regions"]] == ["RUL", "RML", "RLL", "LUL", "LLL"]
    assert doc["severity_score"] == 0 and doc["severity_score_max"] == 25
    assert doc["regions"][0]["lung_volume_ml"] is None
    apex, base = collector.region_map(0), collector.region_map(19)
    assert set(np.unique(apex[lungs[0]])) == {1, 4}  # upper lobes only at the apex
    assert base[33, 10] == 3 and base[33, 40] == 5  # back of the base: lower lobes
    assert base[6, 10] == 2  # front of the right base: middle lobe
    assert all(r["lung_px"] > 0 for r in doc["regions"])


def test_lesion_outside_the_lung_mask_goes_to_the_lung_on_its_side() -> None:
    lungs = two_lungs(slices=6)
    lesion = np.zeros_like(lungs)
    lesion[:, 36:38, 50:54] = True  # below the left lung's mask, still its side
    collector = AnatomyCollector("zones", is_volume=True)
    feed(collector, lungs, lesion)
    doc = collector.finish(None).to_dict()
    assert doc["lungs"]["left"]["lesion_px"] == 6 * 8 and doc["lungs"]["right"]["lesion_px"] == 0


def test_single_images_get_per_slice_sides_only() -> None:
    lungs = two_lungs(slices=2)
    lesion = np.zeros_like(lungs)
    lesion[1, 10:12, 5:7] = True
    collector = AnatomyCollector("lobes", is_volume=False)
    feed(collector, lungs, lesion)
    doc = collector.finish(0.5).to_dict()
    assert doc["regions_method"] == "per-slice" and doc["regions"] == [] and doc["severity_score"] is None
    assert doc["slices"]["lesion_px_right"] == [0, 4] and doc["slices"]["lesion_px_left"] == [0, 0]
    assert doc["lungs"]["right"]["lung_volume_ml"] is None


def test_spilled_masks_round_trip_from_an_unnamed_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    masks = {0: rng.random((64, 48)) > 0.5, 2: np.zeros((10, 10), dtype=bool), 5: rng.random((7, 9)) > 0.3}
    packed = PackedMasks(spill_dir=tmp_path)
    for index, mask in masks.items():
        packed.put(index, mask)
    assert packed.spilled and list(tmp_path.iterdir()) == []  # nothing left behind under a name
    for index in (5, 0, 2):  # any order
        assert packed.get(index).dtype == bool and np.array_equal(packed.get(index), masks[index])
    assert packed.nbytes == 64 * 48 // 8 + 8  # 7 x 9 = 63 bits: 8 bytes
    packed.close()
    assert packed.get(2).shape == (10, 10)  # an empty mask needs no file
    with pytest.raises(ValueError, match="closed"):
        packed.get(0)


def test_an_unwritable_spill_folder_is_an_output_error(tmp_path: Path) -> None:
    packed = PackedMasks(spill_dir=tmp_path / "missing")
    packed.put(0, np.zeros((4, 4), dtype=bool))  # empty: no file yet
    with pytest.raises(OutputError, match="missing"):
        packed.put(1, np.ones((4, 4), dtype=bool))


@pytest.mark.parametrize("method", ["lobes", "zones"])
def test_figures_are_the_same_spilled_and_add_up_to_the_region_maps(method: str, tmp_path: Path) -> None:
    lungs = two_lungs(slices=15, joined=True)
    rng = np.random.default_rng(2)
    lesion = (rng.random(lungs.shape) < 0.2) & (lungs | (rng.random(lungs.shape) < 0.1))
    in_memory = AnatomyCollector(method, is_volume=True)  # type: ignore[arg-type]
    spilled = AnatomyCollector(method, is_volume=True, spill_dir=tmp_path)  # type: ignore[arg-type]
    feed(in_memory, lungs, lesion)
    feed(spilled, lungs, lesion)
    doc = in_memory.finish(0.001).to_dict()
    assert spilled.finish(0.001).to_dict() == doc
    n_regions = len(doc["regions"])
    for i in range(len(lungs)):
        region = spilled.region_map(i)
        assert np.array_equal(region, in_memory.region_map(i))
        per_region = np.bincount(region[lesion[i]], minlength=n_regions + 1)[1:]
        assert [doc["slices"]["lesion_px_by_region"][r["key"]][i] for r in doc["regions"]] == per_region.tolist()
    lung_px = np.zeros(n_regions + 1, dtype=np.int64)
    for i in range(len(lungs)):
        lung_px += np.bincount(in_memory.region_map(i).ravel(), minlength=n_regions + 1)
    assert [r["lung_px"] for r in doc["regions"]] == lung_px[1:].tolist()
    spilled.close()
