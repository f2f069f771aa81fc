from __future__ import annotations

from ctangel.io.paths import folder_name, is_hidden, is_nifti_file, natural_key, nifti_stem


def test_natural_order() -> None:
    names = ["s10.png", "s2.png", "S1.png", "s1.png", "a", "s2b.png", "10", "9"]
    assert sorted(names, key=natural_key) == [
        "9",
        "10",
        "a",
        "S1.png",
        "s1.png",
        "s2.png",
        "s2b.png",
        "s10.png",
    ]


def test_name_helpers() -> None:
    assert is_nifti_file("a/b.NII.GZ") and is_nifti_file("x.nii") and not is_nifti_file("x.gz")
    assert nifti_stem("dir/case_01.nii.gz") == "case_01" and nifti_stem("v.nii") == "v"
    assert folder_name("data/patient_3/") == "patient_3"
    assert folder_name(".") != ""
    assert is_hidden(".DS_Store") and is_hidden("._IM0001") and not is_hidden("IM0001")
