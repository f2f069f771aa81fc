from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ctangel.errors import InputError
from ctangel.io import image_size, read_image, read_image_file, read_image_folder


def save_image(path: Path, array: np.ndarray, mode: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)
    return path


def test_grey_rgb_and_rgba_slices(tmp_path: Path) -> None:
    grey = np.array([[0, 50], [100, 255]], dtype=np.uint8)
    save_image(tmp_path / "grey.png", grey, "L")
    save_image(tmp_path / "rgb.png", np.stack([grey] * 3, axis=-1), "RGB")
    rgba = np.dstack([np.stack([grey] * 3, axis=-1), np.array([[255, 255], [0, 255]], dtype=np.uint8)])
    save_image(tmp_path / "rgba.png", rgba, "RGBA")
    np.testing.assert_array_equal(read_image(tmp_path / "grey.png"), grey)
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.png"), grey)  # three equal channels: unchanged
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.png"), [[0, 50], [0, 255]])  # transparent: black
    # ITU-R 601 luma of pure red, green, blue: 0.299, 0.587, 0.114 of 255
    colours = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    save_image(tmp_path / "colours.png", colours, "RGB")
    np.testing.assert_allclose(read_image(tmp_path / "colours.png"), [[76, 150, 29]], atol=1)


def test_folder_is_one_study_in_natural_order(tmp_path: Path) -> None:
    folder = tmp_path / "patient_42"
    for name, value, size in [("s10.png", 10, (4, 6)), ("s2.jpg", 2, (8, 8)), ("S1.bmp", 1, (5, 3))]:
        save_image(folder / name, np.full(size, value * 20, dtype=np.uint8), "L")
    (folder / "notes.txt").write_text("ignored")
    (folder / ".hidden.png").write_bytes(b"macOS junk")
    study = read_image_folder(folder)
    assert [Path(s).name for s in study.sources] == ["S1.bmp", "s2.jpg", "s10.png"]
    assert study.sources[0] == str(folder / "S1.bmp")
    assert (study.patient_id, study.study_id, study.series_id) == ("patient_42", "patient_42", "patient_42")
    assert (study.kind, study.is_volume, study.affine, study.grid, study.input) == (
        "uint8",
        False,
        None,
        None,
        str(folder),
    )
    assert study.display.is_identity
    slices = list(study)
    assert [s.shape for s in slices] == [(5, 3), (8, 8), (4, 6)]  # any size, as stored
    assert all(s.dtype == np.uint8 for s in slices)
    assert int(np.median(slices[1])) == 40


def test_single_image_is_a_one_slice_study_of_its_folder(tmp_path: Path) -> None:
    path = save_image(tmp_path / "case7" / "slice.png", np.zeros((3, 4), np.uint8), "L")
    study = read_image_file(path)
    assert len(study) == 1
    assert (study.patient_id, study.study_id, study.input) == ("case7", "slice.png", str(path))
    assert study.read(0).shape == (3, 4)


def test_image_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nothing"):
        read_image_file(tmp_path / "nothing.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(InputError, match=r"bad\.png"):
        image_size(tmp_path / "bad.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty"):
        read_image_folder(tmp_path / "empty")
    noise = np.random.default_rng(0).integers(0, 255, size=(64, 64)).astype(np.uint8)
    good = save_image(tmp_path / "t.png", noise, "L").read_bytes()
    (tmp_path / "t.png").write_bytes(good[: len(good) // 2])
    study = read_image_file(tmp_path / "t.png")  # the header is intact: found, fails when read
    with pytest.raises(InputError, match=r"t\.png"):
        study.read(0)


@pytest.mark.data
def test_ct_angel_samples_are_512_uint8(shared_data: Path) -> None:
    root = shared_data / "ct_angel_seed_samples"
    for folder in ("images", "sample"):
        study = read_image_folder(root / folder)
        assert len(study) == 1
        pixels = study.read(0)
        assert pixels.shape == (512, 512) and pixels.dtype == np.uint8
        assert 0 < float(pixels.mean()) < 255
