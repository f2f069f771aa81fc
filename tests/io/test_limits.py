"""The one pixel cap: every reader refuses an image over it before decoding, naming the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from dicom_factory import ct_slice, save
from PIL import Image

from ctangel.constants import DEFAULT_MAX_IMAGE_PIXELS
from ctangel.errors import ConfigError, InputError
from ctangel.io import Study, discover, read_image
from ctangel.io.limits import MAX_IMAGE_PIXELS_ENV, max_image_pixels, set_max_image_pixels
from ctangel.io.slice_file import read_slice_file
from hostile import bomb_png


@pytest.fixture(autouse=True)
def _default_cap(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(MAX_IMAGE_PIXELS_ENV, raising=False)
    set_max_image_pixels(None)
    yield
    set_max_image_pixels(None)


def test_cap_default_environment_and_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert max_image_pixels() == DEFAULT_MAX_IMAGE_PIXELS == 4096 * 4096
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, "1000")
    assert max_image_pixels() == 1000
    set_max_image_pixels(50)
    assert max_image_pixels() == 50
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, "lots")
    set_max_image_pixels(None)
    with pytest.raises(ConfigError, match=MAX_IMAGE_PIXELS_ENV):
        max_image_pixels()
    with pytest.raises(ConfigError):
        set_max_image_pixels(0)


@pytest.mark.parametrize("side", [30000, 12000])
def test_bomb_png_is_one_input_error_and_the_rest_goes_on(tmp_path: Path, side: int) -> None:
    """30000^2 trips Pillow's own bomb check at open; 12000^2 passes it and must meet ours."""
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bomb_png(side, side))
    with pytest.raises(InputError, match=r"bomb\.png.*over the limit"):
        read_image(bomb)
    folder = tmp_path / "patient"
    folder.mkdir()
    (folder / "huge.png").write_bytes(bomb_png(side, side))
    Image.fromarray(np.full((8, 8), 90, np.uint8)).save(folder / "ok.png")
    found = list(discover([str(bomb), str(folder)]))
    errors = [f for f in found if isinstance(f, InputError)]
    studies = [f for f in found if isinstance(f, Study)]
    assert sorted(Path(e.path).name for e in errors) == ["bomb.png", "huge.png"]
    assert [Path(s).name for s in studies[0].sources] == ["ok.png"]


def test_training_reader_enforces_the_cap(tmp_path: Path) -> None:
    bomb = tmp_path / "slice.png"
    bomb.write_bytes(bomb_png(5000, 5000))
    with pytest.raises(InputError, match="over the limit"):
        read_slice_file(bomb)


def test_cap_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(path)
    assert read_image(path).shape == (20, 30)
    set_max_image_pixels(599)
    with pytest.raises(InputError, match="30 x 20 pixels, over the limit of 599"):
        read_image(path)


def test_dicom_over_the_cap(tmp_path: Path) -> None:
    path = save(ct_slice(np.zeros((40, 50), np.int16), series_uid="1.2.3"), tmp_path / "big.dcm")
    set_max_image_pixels(40 * 50 - 1)
    (found,) = discover([str(path)])
    assert isinstance(found, InputError) and "over the limit" in found.problem and found.path == str(path)
    with pytest.raises(InputError, match="over the limit"):
        read_slice_file(path)


def test_nifti_slice_over_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "v.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((30, 20, 2), np.int16), np.eye(4)), path)
    set_max_image_pixels(599)
    (found,) = discover([str(path)])
    assert isinstance(found, InputError) and "NIfTI slice" in found.problem


@pytest.mark.parametrize("fill", ["all", "half"])
def test_nan_volume_is_an_error_not_a_negative(tmp_path: Path, fill: str) -> None:
    data = np.full((6, 5, 3), -800.0, np.float32)
    if fill == "all":
        data[:] = np.nan
    else:
        data[:3] = np.nan
        data[0, 0, 0] = np.inf
    path = tmp_path / "holes.nii"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    (study,) = discover([str(path)])
    assert isinstance(study, Study)
    with pytest.raises(InputError, match=r"holes\.nii#\d.*NaN or infinite"):
        list(study)


def test_float_pixel_data_is_read_not_called_missing(tmp_path: Path) -> None:
    ds = ct_slice(np.zeros((4, 6), np.int16), series_uid="1.2.4", intercept=0.0)
    values = np.arange(24, dtype=np.float32).reshape(4, 6) - 1000.0
    del ds.PixelData
    for keyword in ("BitsStored", "HighBit", "PixelRepresentation"):
        delattr(ds, keyword)
    ds.BitsAllocated = 32
    ds.FloatPixelData = values.tobytes()
    path = save(ds, tmp_path / "float.dcm")
    (study,) = discover([str(path)])
    assert isinstance(study, Study), study
    np.testing.assert_array_equal(study.read(0), values)


def test_sixteen_bit_png_says_how_it_is_scaled(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.fromarray(np.array([[0, 1000], [2000, 4000]], np.uint16)).save(path)
    (study,) = discover([str(path)])
    assert isinstance(study, Study)
    assert "scaled linearly from its own minimum..maximum" in study.description
    np.testing.assert_array_equal(study.read(0), [[0, 64], [128, 255]])
