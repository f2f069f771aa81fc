from __future__ import annotations

import logging
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import numpy.typing as npt
import pydicom
import pytest
from dicom_factory import (
    AXIAL,
    PATIENT_BIRTH_DATE,
    PATIENT_ID,
    PATIENT_NAME,
    STUDY_UID,
    ct_slice,
    dicomdir,
    jpeg_lossless_sv1,
    patient_grid,
    save,
    sr_object,
)
from pydicom.pixels import pixel_array
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

from ctangel.errors import InputError
from ctangel.io import (
    CtSliceHeader,
    DisplayTransform,
    SkippedFile,
    Study,
    discover,
    display_transform,
    mask_to_nifti,
    read_dicom_header,
    read_dicom_slice,
)

SERIES_A = "1.2.826.0.1.3680043.8.498.10"
SERIES_B = "1.2.826.0.1.3680043.8.498.20"


def only_studies(inputs: list[Path]) -> list[Study]:
    found = list(discover(inputs))
    errors = [item for item in found if isinstance(item, InputError)]
    assert not errors, errors
    return [item for item in found if isinstance(item, Study)]


def write_series(
    folder: Path,
    z_values: list[float],
    series_uid: str = SERIES_A,
    names: list[str] | None = None,
    **kw: object,
) -> list[npt.NDArray[np.int16]]:
    """One slice per z, raw values ``100 * slice + pixel index``; file names without a suffix."""
    raws = []
    for n, z in enumerate(z_values):
        raw = (np.arange(12, dtype=np.int16).reshape(3, 4) + 100 * n).astype(np.int16)
        raws.append(raw)
        name = names[n] if names else f"img{n}"
        ds = ct_slice(raw, series_uid=series_uid, position=(-20.0, -30.0, z), instance=n + 1, **kw)  # type: ignore[arg-type]
        save(ds, folder / name)
    return raws


def test_series_ordered_head_to_feet_from_shuffled_names(tmp_path: Path) -> None:
    z = [-5.0, 7.5, 0.0, 2.5, -2.5, 5.0]
    names = ["x9f", "a03", "QQ", "zz.1", "b", "000017"]
    raws = write_series(tmp_path, z, names=names)
    (study,) = only_studies([tmp_path])
    expected = sorted(range(len(z)), key=lambda n: -z[n])  # most superior (largest z) first
    assert study.sources == [str(tmp_path / names[n]) for n in expected]
    for index, n in enumerate(expected):
        np.testing.assert_array_equal(study.read(index), raws[n].astype(np.float32) - 1024)
    assert study.slice_spacing_mm == pytest.approx(2.5)
    assert (study.kind, study.is_volume, len(study)) == ("hu", True, 6)
    assert study.patient_id == PATIENT_ID
    assert (study.study_id, study.series_id) == (STUDY_UID, SERIES_A)
    assert study.input == str(tmp_path)
    assert study.description == "CT, Chest 1mm, ACME Scan 1"


def test_hu_from_slope_and_intercept_by_hand(tmp_path: Path) -> None:
    raw = np.array([[0, 1, 2], [1000, 2000, 3000]], dtype=np.int16)
    save(ct_slice(raw, series_uid=SERIES_A, slope=2.0, intercept=-1024.0), tmp_path / "s")
    expected = np.array([[-1024, -1022, -1020], [976, 2976, 4976]], dtype=np.float32)
    (study,) = only_studies([tmp_path / "s"])
    np.testing.assert_array_equal(study.read(0), expected)
    assert study.read(0).dtype == np.float32
    np.testing.assert_array_equal(read_dicom_slice(tmp_path / "s"), expected)
    assert study.input == str(tmp_path / "s")  # a file given: its own path


DISPLAY_CASES = [
    (AXIAL, DisplayTransform()),
    ((-1.0, 0.0, 0.0, 0.0, -1.0, 0.0), DisplayTransform(flip_rows=True, flip_cols=True)),
    ((-1.0, 0.0, 0.0, 0.0, 1.0, 0.0), DisplayTransform(flip_cols=True)),
    ((0.0, 1.0, 0.0, 1.0, 0.0, 0.0), DisplayTransform(transpose=True)),
    ((0.0, -1.0, 0.0, 1.0, 0.0, 0.0), DisplayTransform(transpose=True, flip_rows=True)),
]


@pytest.mark.parametrize(("orientation", "expected"), DISPLAY_CASES)
def test_display_transform_of_orientation(orientation: tuple[float, ...], expected: DisplayTransform) -> None:
    assert display_transform(orientation) == expected


@pytest.mark.parametrize(("orientation", "transform"), DISPLAY_CASES)
def test_any_axial_storage_gives_the_same_display_and_affine(
    tmp_path: Path, orientation: tuple[float, ...], transform: DisplayTransform
) -> None:
    # The same patient grid stored five ways: display slices, spacing and affine must not change.
    dx, dy, x0, y0 = 0.75, 0.5, -20.0, -30.0
    display = [np.arange(15, dtype=np.int16).reshape(3, 5) * (k + 1) for k in range(3)]
    for k, z in enumerate([0.0, 2.0, 4.0]):  # written feet first
        stored, (ipp_x, ipp_y), spacing = patient_grid(display[2 - k], orientation, x0=x0, y0=y0, dx=dx, dy=dy)
        ds = ct_slice(
            stored,
            series_uid=SERIES_A,
            position=(ipp_x, ipp_y, z),
            orientation=orientation,
            pixel_spacing=spacing,
        )
        save(ds, tmp_path / f"f{k}")
    (study,) = only_studies([tmp_path])
    assert study.display == transform
    for k in range(3):
        np.testing.assert_array_equal(study.read(k), display[k] - 1024.0)
    assert study.pixel_spacing_mm == (dy, dx)
    assert study.slice_spacing_mm == pytest.approx(2.0)
    # display voxel (col j, row i, index k) -> LPS (x0 + j dx, y0 + i dy, 4 - 2k) -> RAS flips x and y
    expected = np.array([[-dx, 0, 0, -x0], [0, -dy, 0, -y0], [0, 0, -2.0, 4.0], [0, 0, 0, 1]])
    assert study.affine is not None
    np.testing.assert_allclose(study.affine, expected, atol=1e-9)


def test_affine_places_stored_pixels_at_their_dicom_position(tmp_path: Path) -> None:
    # A flipped IOP: stored pixel (r, c) is at IPP + c*dc*u + r*dr*v; its display voxel must map there.
    orientation = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0)
    ipp = np.array([12.0, 7.0, 30.0])
    for k, z in enumerate([30.0, 27.0]):
        raw = np.zeros((4, 6), dtype=np.int16)
        save(
            ct_slice(
                raw,
                series_uid=SERIES_A,
                position=(12.0, 7.0, z),
                orientation=orientation,
                pixel_spacing=(0.5, 0.8),
            ),
            tmp_path / f"s{k}",
        )
    (study,) = only_studies([tmp_path])
    assert study.affine is not None
    r, c, k = 1, 4, 1
    lps = ipp + c * 0.8 * np.array([-1.0, 0, 0]) + r * 0.5 * np.array([0, -1.0, 0]) + np.array([0, 0, -3.0 * k])
    marker = np.zeros((4, 6))
    marker[r, c] = 1
    i, j = np.argwhere(study.display.apply(marker))[0]
    ras = study.affine @ [j, i, k, 1]
    np.testing.assert_allclose(ras[:3], [-lps[0], -lps[1], lps[2]])


def test_mask_volume_of_a_series_uses_the_display_grid(tmp_path: Path) -> None:
    write_series(tmp_path, [0.0, 1.0], orientation=(-1.0, 0.0, 0.0, 0.0, 1.0, 0.0))
    (study,) = only_studies([tmp_path])
    masks = [study.read(k) > study.read(k).mean() for k in range(len(study))]
    image = mask_to_nifti(study, iter(masks))
    data = np.asanyarray(image.dataobj)
    assert data.dtype == np.uint8 and data.shape == (4, 3, 2)  # (cols, rows, slices)
    for k, mask in enumerate(masks):
        np.testing.assert_array_equal(data[:, :, k].T, mask.astype(np.uint8))
    assert study.affine is not None
    np.testing.assert_allclose(image.affine, study.affine)
    assert int(image.header["sform_code"]) == 1 and int(image.header["qform_code"]) == 1
    with pytest.raises(ValueError, match="masks for"):
        mask_to_nifti(study, masks[:1])


def test_non_ct_objects_and_localizers_are_skipped_and_recorded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_series(tmp_path, [0.0, 1.0, 2.0])
    localizer = ct_slice(
        np.zeros((3, 4), np.int16), series_uid=SERIES_A, image_type=("ORIGINAL", "PRIMARY", "LOCALIZER")
    )
    save(localizer, tmp_path / "scout")
    save(sr_object(SERIES_A + ".9"), tmp_path / "report")
    save(dicomdir(), tmp_path / "DICOMDIR")
    (tmp_path / "notes.txt").write_text("not DICOM")
    (tmp_path / "README").write_text("not DICOM either, no suffix")
    with caplog.at_level(logging.DEBUG, logger="ctangel"):
        (study,) = only_studies([tmp_path])
    assert len(study) == 3
    assert all(not s.endswith(("scout", "report")) for s in study.sources)
    reasons = {Path(line.split(": ", 1)[0]).name: line.split(": ", 1)[1] for line in study.skipped}
    assert set(reasons) == {"scout", "report", "DICOMDIR"}
    assert "localizer" in reasons["scout"]
    assert reasons["report"] == "not a CT image (Comprehensive SR Storage, modality SR)"
    assert "DICOMDIR" in reasons["DICOMDIR"]
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(info) == 3  # one line per skipped object, none for the text files
    assert PATIENT_NAME.split("^")[0] not in caplog.text and PATIENT_BIRTH_DATE not in caplog.text


def test_two_series_in_one_folder_become_two_studies_by_series_number(tmp_path: Path) -> None:
    write_series(tmp_path, [0.0, 1.0, 2.0], SERIES_B, names=["a", "b", "c"], series_number=3)
    write_series(tmp_path, [0.0, 5.0], SERIES_A, names=["d", "e"], series_number=2)
    first, second = only_studies([tmp_path])
    assert (first.series_id, len(first), first.slice_spacing_mm) == (SERIES_A, 2, 5.0)
    assert (second.series_id, len(second), second.slice_spacing_mm) == (SERIES_B, 3, 1.0)


def test_series_spread_over_folders_is_one_study(tmp_path: Path) -> None:
    write_series(tmp_path / "p" / "one", [0.0, 1.0], names=["a", "b"])
    write_series(tmp_path / "p" / "two", [2.0, 3.0], names=["c", "d"], sop_uid=None)
    (study,) = only_studies([tmp_path])
    assert [Path(s).name for s in study.sources] == ["d", "c", "b", "a"]
    assert study.input == str(tmp_path / "p")


def test_without_positions_slices_follow_instance_number(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for n, instance in enumerate([3, 1, 2]):
        raw = np.full((3, 4), instance, dtype=np.int16)
        save(ct_slice(raw, series_uid=SERIES_A, position=None, instance=instance), tmp_path / f"f{n}")
    with caplog.at_level(logging.WARNING, logger="ctangel"):
        (study,) = only_studies([tmp_path])
    assert [float(study.read(k)[0, 0]) + 1024 for k in range(3)] == [1.0, 2.0, 3.0]
    assert "InstanceNumber" in caplog.text
    assert study.slice_spacing_mm == 1.25  # SliceThickness when positions are missing


def test_shared_positions_are_kept_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_series(tmp_path, [0.0, 0.0, 2.0])
    with caplog.at_level(logging.WARNING, logger="ctangel"):
        (study,) = only_studies([tmp_path])
    assert len(study) == 3
    assert study.slice_spacing_mm == 2.0
    assert "share a position" in caplog.text


def test_second_copy_of_a_slice_is_skipped(tmp_path: Path) -> None:
    write_series(tmp_path, [0.0, 1.0])
    (tmp_path / "copy").write_bytes((tmp_path / "img1").read_bytes())
    (study,) = only_studies([tmp_path])
    assert len(study) == 2
    assert any("same SOPInstanceUID" in line for line in study.skipped)


def test_sagittal_series_is_read_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sagittal = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
    for k, x in enumerate([-4.0, 4.0]):
        save(
            ct_slice(np.zeros((3, 4), np.int16), series_uid=SERIES_A, position=(x, 0, 0), orientation=sagittal),
            tmp_path / f"s{k}",
        )
    with caplog.at_level(logging.WARNING, logger="ctangel"):
        (study,) = only_studies([tmp_path])
    assert "sagittal, not axial" in caplog.text
    assert study.display.is_identity  # rows toward the feet, columns toward the back: as displayed
    assert [Path(s).name for s in study.sources] == ["s0", "s1"]  # patient's right (-x) first


def _compressed_series(tmp_path: Path, encode: str, raw: npt.NDArray[np.integer], bits: int) -> Path:
    for k in range(2):
        ds = ct_slice(raw + k, series_uid=SERIES_A, position=(0, 0, -k), bits_stored=bits, intercept=-1024.0)
        if encode == "jpeg-lossless-sv1":
            jpeg_lossless_sv1(ds)
        else:
            ds.compress({"rle": RLELossless, "jpeg2000": JPEG2000Lossless, "jpeg-ls": JPEGLSLossless}[encode])
        save(ds, tmp_path / f"c{k}.dcm")
    return tmp_path


COMPRESSION_CASES = [
    ("rle", np.int16, 16),
    ("jpeg2000", np.int16, 16),
    ("jpeg-ls", np.uint16, 12),
    ("jpeg-lossless-sv1", np.uint16, 12),
    ("jpeg-lossless-sv1", np.int16, 16),
    ("jpeg-lossless-sv1", np.uint16, 16),
]


@pytest.mark.parametrize(("encode", "dtype", "bits"), COMPRESSION_CASES)
def test_compressed_pixels_decode_exactly(tmp_path: Path, encode: str, dtype: type, bits: int) -> None:
    rng = np.random.default_rng(7)
    signed = np.dtype(dtype).kind == "i"
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 2) if signed else (0, (1 << bits) - 2)
    raw: npt.NDArray[np.integer] = rng.integers(low, high, size=(36, 40)).astype(
        dtype
    )  # JPEG 2000 needs 32+ pixels a side
    raw[0, :4] = [low, high, low, high]  # extreme neighbours: the largest prediction differences
    if not signed and bits == 16:
        raw[1, :2] = [0, 1 << 15]  # a difference of exactly 2**15: JPEG's category 16, no extra bits
    _compressed_series(tmp_path, encode, raw, bits)
    (study,) = only_studies([tmp_path])
    assert len(study) == 2
    for k in range(2):
        np.testing.assert_array_equal(study.read(k), (raw + k).astype(np.float32) - 1024.0)
    if encode in ("jpeg-ls", "jpeg-lossless-sv1", "jpeg2000"):
        # the runtime decoders (pylibjpeg), not only the dev-only encoder's own decoder
        decoded = pixel_array(tmp_path / "c0.dcm", decoding_plugin="pylibjpeg")
        np.testing.assert_array_equal(decoded, raw)


def test_truncated_and_damaged_files_are_yielded_and_the_series_goes_on(tmp_path: Path) -> None:
    write_series(tmp_path, [0.0, 1.0, 2.0, 3.0])
    data = (tmp_path / "img1").read_bytes()
    (tmp_path / "img1").write_bytes(data[: len(data) - 10])  # pixel data cut short
    (tmp_path / "img2").write_bytes(data[:300])  # header cut short
    ds = ct_slice(np.arange(12, dtype=np.int16).reshape(3, 4), series_uid=SERIES_A, position=(0, 0, 9))
    ds.compress(RLELossless)
    save(ds, tmp_path / "rle")
    rle = (tmp_path / "rle").read_bytes()
    (tmp_path / "rle").write_bytes(rle[:-12])
    found = list(discover([tmp_path]))
    errors = {Path(e.path).name: e for e in found if isinstance(e, InputError)}
    assert set(errors) == {"img1", "img2", "rle"}
    assert "truncated" in str(errors["img1"]) and str(tmp_path / "img1") in str(errors["img1"])
    assert "truncated" in str(errors["rle"])
    (study,) = [s for s in found if isinstance(s, Study)]
    assert [Path(s).name for s in study.sources] == ["img3", "img0"]


def test_a_slice_gone_at_read_time_raises_naming_its_file(tmp_path: Path) -> None:
    write_series(tmp_path, [0.0, 1.0])
    (study,) = only_studies([tmp_path])
    os.remove(tmp_path / "img0")
    study.read(0)  # img1 (z = 1) comes first and is still there
    with pytest.raises(InputError, match="img0"):
        study.read(1)


def test_multiframe_ct_is_an_input_error(tmp_path: Path) -> None:
    ds = ct_slice(np.zeros((3, 4), np.int16), series_uid=SERIES_A)
    ds.NumberOfFrames = 2
    save(ds, tmp_path / "mf.dcm")
    with pytest.raises(InputError, match=r"mf\.dcm.*multi-frame"):
        read_dicom_header(tmp_path / "mf.dcm")


def test_header_reading_judges_objects(tmp_path: Path) -> None:
    save(ct_slice(np.zeros((3, 4), np.int16), series_uid=SERIES_A), tmp_path / "ct")
    save(sr_object(SERIES_B), tmp_path / "sr")
    (tmp_path / "text.dcm").write_text("hello")
    header = read_dicom_header(tmp_path / "ct")
    assert isinstance(header, CtSliceHeader)
    assert (header.rows, header.cols, header.position, header.pixel_spacing) == (
        3,
        4,
        (0.0, 0.0, 0.0),
        (0.5, 0.75),
    )
    assert isinstance(read_dicom_header(tmp_path / "sr"), SkippedFile)
    assert read_dicom_header(tmp_path / "text.dcm") is None
    assert not hasattr(header, "patient_name")


def test_file_without_preamble_is_read(tmp_path: Path) -> None:
    ds = ct_slice(np.arange(12, dtype=np.int16).reshape(3, 4), series_uid=SERIES_A)
    ds.preamble = None
    del ds.file_meta
    ds.save_as(tmp_path / "old", implicit_vr=True, little_endian=True)
    assert (tmp_path / "old").read_bytes()[128:132] != b"DICM"
    (study,) = only_studies([tmp_path])
    np.testing.assert_array_equal(study.read(0), np.arange(12).reshape(3, 4) - 1024.0)


# --- real data -------------------------------------------------------------------------------------


@pytest.mark.data
def test_lidc_0001_full_series(shared_data: Path) -> None:
    folder = shared_data / "lidc_idri_ct_dicom_c2c" / "LIDC-IDRI-0001"
    (study,) = only_studies([folder])
    assert len(study) == 133
    assert study.patient_id == "LIDC-IDRI-0001"
    z = [float(pydicom.dcmread(s, stop_before_pixels=True).ImagePositionPatient[2]) for s in study.sources]
    assert z[0] == pytest.approx(-10.0) and z[-1] == pytest.approx(-340.0)
    assert np.all(np.diff(z) < 0)  # strictly head to feet
    assert study.slice_spacing_mm == pytest.approx(2.5)
    assert study.pixel_spacing_mm == pytest.approx((0.703125, 0.703125))
    assert study.display.is_identity
    assert study.affine is not None
    np.testing.assert_allclose(study.affine[:3, 2], [0, 0, -2.5])
    assert study.affine[2, 3] == pytest.approx(-10.0)
    assert study.description == "CT, GE MEDICAL SYSTEMS LightSpeed Plus"
    lung_medians = []
    for k in range(len(study)):
        hu = study.read(k)
        assert hu.shape == (512, 512) and hu.dtype == np.float32
        assert hu.min() >= -3024 and hu.max() <= 4000
        assert -1050 < float(np.median(hu[:30, 230:280])) < -950  # air in front of the patient
        lung_medians.append(float(np.median(hu[hu > -1500])))
    assert min(lung_medians) < -800  # slices through the lungs
    assert -200 < float(np.median(lung_medians[-10:])) < 0  # upper abdomen: mostly soft tissue
    assert -100 < float(np.median(study.read(120)[200:312, 200:312])) < 100  # soft tissue in the middle


@pytest.mark.data
def test_lidc_0003_every_second_slice(shared_data: Path) -> None:
    folder = shared_data / "lidc_idri_ct_dicom_c2c" / "LIDC-IDRI-0003"
    (study,) = only_studies([folder])
    assert len(study) == 70
    assert study.slice_spacing_mm == pytest.approx(5.0)
    assert study.affine is not None
    assert study.affine[2, 3] > study.affine[2, 3] + study.affine[2, 2]  # index runs toward the feet
    image = mask_to_nifti(study, (np.zeros((512, 512), bool) for _ in range(70)))
    assert image.shape == (512, 512, 70)
    assert nib.aff2axcodes(image.affine) == ("L", "P", "I")
