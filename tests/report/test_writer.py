from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import nibabel as nib
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from ctangel.errors import ConfigError, OutputError
from ctangel.io.study import DisplayTransform, Study
from ctangel.preprocessing import Window
from ctangel.report import OutputWriter
from ctangel.report.overlay import MODEL_RGB, PANEL_GAP_PX, TRUTH_RGB

if TYPE_CHECKING:
    from conftest import Driver

ROWS, COLS = 32, 40  # stored slices


def _grey() -> npt.NDArray[np.uint8]:
    return np.full((ROWS, COLS), 100, dtype=np.uint8)


def _lesion(rows: slice = slice(5, 10), cols: slice = slice(10, 20)) -> npt.NDArray[np.bool_]:
    mask = np.zeros((ROWS, COLS), dtype=bool)
    mask[rows, cols] = True
    return mask


def _none() -> npt.NDArray[np.bool_]:
    return np.zeros((ROWS, COLS), dtype=bool)


def _colour(rgb: npt.NDArray[np.uint8], colour: Sequence[int]) -> npt.NDArray[np.bool_]:
    return np.all(rgb == np.asarray(colour, dtype=np.uint8), axis=-1)


def test_overlay_has_red_box_where_the_lesion_is_shown(make_driver: Callable[..., Driver]) -> None:
    driver = make_driver()
    out = driver.writer.out_dir
    # Transposed for display: stored rows 5..9 x cols 10..19 show as rows 10..19 x cols 5..9.
    result = driver.study(
        [_grey(), _grey()],
        [_lesion(), _none()],
        ["scans/a.png", "scans/b.png"],
        display=DisplayTransform(transpose=True),
    )
    assert [o["index"] for o in result.outputs["overlays"]] == [0]  # the negative slice gets none
    overlay = out / result.outputs["overlays"][0]["path"]
    assert overlay.name == "0000_a.png" and overlay.parent.parent.name == "p1_s1"
    rgb = np.asarray(Image.open(overlay).convert("RGB"))
    red = _colour(rgb[:COLS, :ROWS], MODEL_RGB)  # the display panel is COLS rows x ROWS columns
    assert red[15, 4] and red[15, 10] and red[9, 7] and red[20, 7]
    assert not red[10:20, 5:10].any()
    assert red.sum() == 7 * 12 - 5 * 10  # the 1-px ring around the box, nothing else
    assert (out / result.outputs["montage"]).is_file()


def test_label_boxes_drawn_green_in_display_orientation(tmp_path: Path, make_driver: Callable[..., Driver]) -> None:
    labels = tmp_path / "labels"
    labels.mkdir()
    label = np.zeros((ROWS, COLS), dtype=np.uint8)
    label[5:10, 10:20] = 255
    Image.fromarray(label).save(labels / "a.bmp")  # another ending than the slice's: the stem matters
    driver = make_driver(labels=labels)
    # The model finds nothing; the label has a lesion: the slice still gets an overlay.
    result = driver.study([_grey()], [_none()], ["scans/a.png"], display=DisplayTransform(flip_rows=True))
    assert len(result.outputs["overlays"]) == 1
    rgb = np.asarray(Image.open(driver.writer.out_dir / result.outputs["overlays"][0]["path"]).convert("RGB"))
    assert rgb.shape[1] == 2 * COLS + PANEL_GAP_PX
    # Rows flipped: stored rows 5..9 show as rows 22..26; the box (10, 22, 20, 27) sits in the right panel.
    green = _colour(rgb[:ROWS, COLS + PANEL_GAP_PX :], TRUTH_RGB)
    assert green[24, 9] and green[24, 20] and green[21, 15] and green[27, 15]
    assert green.sum() == 12 * 7 - 10 * 5
    assert not _colour(rgb[:ROWS, :COLS], MODEL_RGB).any()


def test_png_masks_come_back_in_the_input_orientation(make_driver: Callable[..., Driver]) -> None:
    driver = make_driver(write_masks=True)
    lesion = _lesion()
    display = DisplayTransform(transpose=True, flip_cols=True)
    result = driver.study(
        [_grey(), _grey()], [lesion, _none()], ["scans/IM0001.png", "scans/IM0002.jpg"], display=display
    )
    paths = [driver.writer.out_dir / m["path"] for m in result.outputs["masks"]]
    assert [p.name for p in paths] == ["IM0001.png", "IM0002.png"]
    assert paths[0].parent == driver.writer.out_dir / "masks" / "p1_s1"
    with Image.open(paths[0]) as im:
        assert im.size == (COLS, ROWS) and im.mode == "L"
        back = np.asarray(im)
    assert set(np.unique(back)) == {0, 255}
    assert np.array_equal(back == 255, lesion)
    assert not np.asarray(Image.open(paths[1])).any()


def test_volume_mask_written_as_one_nifti(monkeypatch: pytest.MonkeyPatch, make_driver: Callable[..., Driver]) -> None:
    seen: list[list[npt.NDArray[np.bool_]]] = []

    def mask_to_nifti(study: Study, masks: Sequence[npt.NDArray[np.bool_]]) -> nib.Nifti1Image:
        seen.append(list(masks))  # may be a generator: read it once
        volume = np.stack([m.T for m in seen[-1]], axis=-1).astype(np.uint8)  # (col, row, index)
        return nib.Nifti1Image(volume, np.eye(4))

    fake = types.ModuleType("ctangel.io.nifti")
    fake.mask_to_nifti = mask_to_nifti  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ctangel.io.nifti", fake)
    driver = make_driver(write_masks=True)
    hu = np.full((ROWS, COLS), -800.0, dtype=np.float32)
    result = driver.study(
        [hu, hu, hu],
        [_none(), _lesion(), _none()],
        [f"ct.nii.gz#{k}" for k in range(3)],
        kind="hu",
        is_volume=True,
    )
    path = driver.writer.out_dir / result.outputs["mask"]
    assert path.name == "p1_s1.nii.gz" and "masks" not in result.outputs
    assert [m.shape for m in seen[0]] == [(ROWS, COLS)] * 3 and [int(m.sum()) for m in seen[0]] == [0, 50, 0]
    data = np.asarray(nib.load(path).dataobj)
    assert data.shape == (COLS, ROWS, 3) and int(data.sum()) == 50
    assert [o["path"].rsplit("/", 1)[1] for o in result.outputs["overlays"]] == ["0001.png"]


def test_overlay_choices(make_driver: Callable[..., Driver], tmp_path: Path) -> None:
    every = make_driver(overlays="all").study([_grey(), _grey()], [_lesion(), _none()], ["a.png", "b.png"])
    assert [o["index"] for o in every.outputs["overlays"]] == [0, 1]
    none = make_driver(overlays="none").study([_grey()], [_lesion()], ["a.png"], series_id="s2")
    assert none.outputs["overlays"] == [] and "montage" in none.outputs
    with pytest.raises(ConfigError, match="overlays"):
        OutputWriter(tmp_path / "x", Window(), overlays="some")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="labels folder"):
        OutputWriter(tmp_path / "x", Window(), labels=tmp_path / "missing")


def test_earlier_outputs_stay_when_a_later_study_fails(make_driver: Callable[..., Driver]) -> None:
    driver = make_driver()
    first = driver.study([_grey()], [_lesion()], ["one/a.png"])
    partial = driver.writer.partial_path
    assert len(partial.read_text().splitlines()) == 1  # a crash now would leave the first study on disk
    driver.fail("two", "slice 3 cannot be read")
    result = driver.finish()
    assert (driver.writer.out_dir / first.outputs["overlays"][0]["path"]).is_file()
    assert not partial.exists()
    saved = json.loads(driver.writer.results_path.read_text())
    assert saved == json.loads(json.dumps(result.to_dict()))
    assert saved["errors"] == [{"input": "two", "error": "slice 3 cannot be read"}]


def test_nifti_mask_matches_the_input_volume(tmp_path: Path, make_driver: Callable[..., Driver]) -> None:
    from ctangel.io.nifti import read_nifti

    shape = (20, 16, 3)  # the file's own (i, j, k) grid
    affine = np.diag([0.8, 0.8, 5.0, 1.0])
    nib.save(nib.Nifti1Image(np.full(shape, -800, dtype=np.int16), affine), tmp_path / "ct.nii.gz")
    study = read_nifti(tmp_path / "ct.nii.gz")
    rows, cols = study.read(0).shape
    lesions = [np.zeros((rows, cols), dtype=bool) for _ in range(len(study))]
    lesions[1][4:9, 3:8] = True
    driver = make_driver(write_masks=True)
    result = driver.run(study, lesions)
    path = driver.writer.out_dir / result.outputs["mask"]
    assert path.name == "ct.nii.gz"  # named after the patient (the file's stem), not "ct_ct.nii.gz"
    image = nib.load(path)
    assert image.shape == shape and np.allclose(image.affine, affine)
    assert int(np.asarray(image.dataobj).sum()) == 25


def test_study_names_are_unique_and_drop_a_repeated_id(make_driver: Callable[..., Driver]) -> None:
    driver = make_driver()
    names = [
        driver.study([_grey()], [_lesion()], ["a/x.png"], patient_id="scans", series_id="scans").outputs["folder"],
        driver.study([_grey()], [_lesion()], ["b/x.png"], patient_id="scans", series_id="scans").outputs["folder"],
        driver.study([_grey()], [_lesion()], ["c/x.png"], patient_id="P/1", series_id="1.2.3").outputs["folder"],
    ]
    assert names == ["studies/scans", "studies/scans-2", "studies/P_1_1.2.3"]


def test_a_study_failing_midway_keeps_what_it_wrote(make_driver: Callable[..., Driver]) -> None:
    driver = make_driver()
    study = Study("p", "s", "s", "in", "uint8", ["in/a.png", "in/b.png"], lambda i: _grey())
    driver.writer.start_study(study)
    driver.add(study, 0, _lesion())
    driver.fail("in/b.png", "truncated")  # the pipeline reports the slice's file
    assert not driver.writer._states  # its thumbnails are let go
    driver.finish()
    assert (driver.writer.out_dir / "studies" / "p_s" / "overlays" / "0000_a.png").is_file()
    assert "truncated" in driver.writer.report_path.read_text(encoding="utf-8")


def test_an_image_that_cannot_be_written_fails_its_study(make_driver: Callable[..., Driver]) -> None:
    driver = make_driver()
    out = driver.writer.out_dir
    (out / "studies" / "p1_s1" / "overlays" / "0000_a.png").mkdir(parents=True)  # a folder where the image goes
    with pytest.raises(OutputError, match=r"0000_a\.png: cannot be written"):
        driver.study([_grey(), _grey()], [_lesion(), _lesion()], ["in/a.png", "in/b.png"])
    assert (out / "studies" / "p1_s1" / "overlays" / "0001_b.png").is_file()  # the others were written
    assert not driver.writer._states and not driver.writer.partial_path.exists()  # not recorded as done
    second = driver.study([_grey()], [_lesion()], ["in2/a.png"], patient_id="p2")  # the next study goes on
    assert (out / second.outputs["overlays"][0]["path"]).is_file()


def test_overlays_are_lossless_pngs_of_the_drawn_image(make_driver: Callable[..., Driver]) -> None:
    from ctangel.report.overlay import draw_overlay

    driver = make_driver()
    result = driver.study([_grey()], [_lesion()], ["scans/a.png"])
    with Image.open(driver.writer.out_dir / result.outputs["overlays"][0]["path"]) as im:
        saved = np.asarray(im.convert("RGB"))
    drawn = draw_overlay(
        _grey(),
        [(10.0, 5.0, 20.0, 10.0)],
        ["slice 0 | a.png", "lesion probability 0.900 | lesion 50 px (24.5 mm2)"],
        lesion_mask=_lesion(),
    )
    assert np.array_equal(saved, np.asarray(drawn))
