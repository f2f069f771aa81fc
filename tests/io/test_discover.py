from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from dicom_factory import ct_slice, dicomdir, save, sr_object
from PIL import Image

from ctangel.errors import InputError
from ctangel.io import Study, discover

SERIES = "1.2.826.0.1.3680043.8.498.30"


def png(path: Path, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 5), value, dtype=np.uint8), mode="L").save(path)
    return path


def dicom_series(folder: Path, count: int = 2, series: str = SERIES) -> None:
    for k in range(count):
        raw = np.full((3, 4), k, dtype=np.int16)
        save(ct_slice(raw, series_uid=series, position=(0, 0, -k), instance=k + 1), folder / f"IM{k}")


def nifti(path: Path) -> Path:
    nib.save(nib.Nifti1Image(np.zeros((5, 4, 3), np.int16), np.diag([-1.0, -1.0, 2.0, 1.0])), path)
    return path


def label(item: Study | InputError) -> str:
    return f"error {item.path}" if isinstance(item, InputError) else f"{item.kind} {item.input}"


def build_tree(root: Path) -> None:
    png(root / "p1" / "s2.png")
    png(root / "p1" / "s10.png")
    png(root / "p2" / "x.jpg")
    png(root / "p2" / "sub" / "y.png")
    png(root / "p10" / "z.png")
    nifti(root / "vol.nii.gz")
    dicom_series(root / "ct" / "series")
    save(dicomdir(), root / "ct" / "DICOMDIR")
    (root / "ct" / "series" / "notes.xml").write_text("<notes/>")
    (root / ".cache").mkdir()
    png(root / ".cache" / "hidden.png")
    (root / "p1" / "._s3.png").write_bytes(b"AppleDouble junk")


def test_tree_of_studies_in_natural_order_with_paths_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_tree(tmp_path / "tree")
    monkeypatch.chdir(tmp_path)
    found = list(discover(["tree"]))
    assert [label(item) for item in found] == [
        "hu tree/ct/series",
        "uint8 tree/p1",
        "uint8 tree/p2",
        "uint8 tree/p2/sub",
        "uint8 tree/p10",
        "hu tree/vol.nii.gz",
    ]
    dicom, p1, p2, sub, _, volume = (item for item in found if isinstance(item, Study))
    assert dicom.sources == ["tree/ct/series/IM0", "tree/ct/series/IM1"]
    assert dicom.skipped == ["tree/ct/DICOMDIR: DICOMDIR (an index of a DICOM medium, not an image)"]
    assert p1.sources == ["tree/p1/s2.png", "tree/p1/s10.png"]
    assert (p1.patient_id, p1.study_id) == ("p1", "p1")
    assert (sub.patient_id, sub.study_id, sub.series_id) == ("sub", "p2/sub", "p2/sub")
    assert (p2.skipped, volume.skipped) == ([], [])
    assert volume.sources[0].startswith("tree/vol.nii.gz#")
    assert [label(item) for item in discover(["tree"])] == [label(item) for item in found]  # deterministic


def test_a_folder_holding_images_and_a_series_gives_both(tmp_path: Path) -> None:
    dicom_series(tmp_path)
    png(tmp_path / "a.png")
    kinds = sorted(item.kind for item in discover([tmp_path]) if isinstance(item, Study))
    assert kinds == ["hu", "uint8"]


def test_bad_inputs_are_yielded_and_the_others_go_on(tmp_path: Path) -> None:
    dicom_series(tmp_path / "good")
    (tmp_path / "empty").mkdir()
    save(sr_object(SERIES + ".1"), tmp_path / "reports" / "sr1")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (tmp_path / "notes.txt").write_text("hello")
    save(sr_object(SERIES + ".2"), tmp_path / "sr.dcm")
    png(tmp_path / "mixed" / "ok.png")
    (tmp_path / "mixed" / "bad.png").write_bytes(b"not an image")
    inputs = ["missing/folder", "good", "empty", "reports", "broken.png", "notes.txt", "sr.dcm", "mixed"]
    found = list(discover([tmp_path / name for name in inputs]))
    assert [label(item).split(" ")[0] for item in found] == [
        "error",  # missing
        "hu",  # good
        "error",  # empty
        "error",  # only an SR
        "error",  # broken image
        "error",  # not a slice
        "error",  # an SR given directly
        "uint8",  # mixed: the good image ...
        "error",  # ... and the bad one
    ]
    errors = [item for item in found if isinstance(item, InputError)]
    for error, name in zip(
        errors,
        ["missing/folder", "empty", "reports", "broken.png", "notes.txt", "sr.dcm", "mixed/bad.png"],
        strict=True,
    ):
        assert error.path == str(tmp_path / name)
        assert str(tmp_path / name) in str(error)
    assert "no such file or folder" in str(errors[0])
    assert "nothing to analyse" in str(errors[1])
    assert "1 DICOM objects skipped" in str(errors[2]) and "Comprehensive SR" in str(errors[2])
    assert "not a DICOM, NIfTI or image file" in str(errors[4])
    assert "not a CT image" in str(errors[5])
    mixed = found[7]
    assert isinstance(mixed, Study) and mixed.sources == [str(tmp_path / "mixed" / "ok.png")]


def test_single_files_of_each_kind(tmp_path: Path) -> None:
    dicom_series(tmp_path / "d", count=1)
    files = [tmp_path / "d" / "IM0", png(tmp_path / "im" / "one.png"), nifti(tmp_path / "v.nii")]
    found = list(discover(files))
    assert [label(item) for item in found] == [f"hu {files[0]}", f"uint8 {files[1]}", f"hu {files[2]}"]
    assert all(isinstance(item, Study) and len(item) > 0 for item in found)


def test_a_broken_link_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    (error,) = discover([tmp_path / "link"])
    assert isinstance(error, InputError) and "link" in str(error)
