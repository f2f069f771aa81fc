"""DICOM SEG out: written from collected masks, read back with highdicom, pydicom and dcmtk's dcmdump."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from ctangel.anatomy import AnatomyCollector
from ctangel.anatomy.regions import regions_of
from ctangel.io.discover import discover
from ctangel.io.study import Study
from ctangel.report.dicom_seg import is_dicom_series, write_dicom_seg

SLICES = 8


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Study:
    from ctangel.synthetic.dicom_writer import write_dicom_series
    from ctangel.synthetic.phantom import make_phantom

    folder = tmp_path_factory.mktemp("seg") / "series"
    write_dicom_series(make_phantom(SLICES, 0), folder)
    (study,) = [s for s in discover([folder]) if isinstance(s, Study)]
    return study


def masks(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = shape
    lung = np.zeros((SLICES, rows, cols), dtype=bool)
    lung[:, rows // 5 : 4 * rows // 5, cols // 8 : 7 * cols // 16] = True
    lung[:, rows // 5 : 4 * rows // 5, 9 * cols // 16 : 7 * cols // 8] = True
    lesion = np.zeros_like(lung)
    lesion[1:3, rows // 3 : rows // 2, cols // 4 : cols // 3] = True
    return lung, lesion


def test_seg_frames_match_the_masks(series: Study, tmp_path: Path) -> None:
    import highdicom as hd

    assert is_dicom_series(series)
    shape = series.read(0).shape
    lung, lesion = masks(shape)
    collector = AnatomyCollector("lobes", is_volume=True)
    for i in range(SLICES):
        collector.add(i, lung[i], lesion[i])
    doc = collector.finish(series.voxel_volume_ml).to_dict()
    path = write_dicom_seg(series, collector, tmp_path / "seg.dcm")

    seg = hd.seg.segread(path)
    n = len(regions_of("lobes"))
    assert seg.number_of_segments == 2 * n
    sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in series.sources]
    assert seg.StudyInstanceUID == sources[0].StudyInstanceUID
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == sources[0].SeriesInstanceUID
    uids = [s.SOPInstanceUID for s in sources]
    volume = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=uids, combine_segments=False, ignore_spatial_locations=True
    )
    assert volume.shape == (SLICES, int(sources[0].Rows), int(sources[0].Columns), 2 * n)
    lesion_seg = volume[..., :n].any(axis=-1)
    lung_seg = volume.any(axis=-1)
    for i in range(SLICES):
        assert np.array_equal(lesion_seg[i], series.display.invert(lesion[i]))
        assert np.array_equal(lung_seg[i], series.display.invert(lung[i] | lesion[i]))
    for k, region in enumerate(doc["regions"]):
        assert int(volume[..., k].sum()) == region["lesion_px"]
        assert int(volume[..., k].sum() + volume[..., n + k].sum()) == region["lung_px"]

    raw = pydicom.dcmread(path)
    assert raw.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"
    assert raw.SegmentSequence[0].SegmentLabel.startswith("lesion, right upper lobe")
    frame_refs = {
        f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        for f in raw.PerFrameFunctionalGroupsSequence
    }
    assert frame_refs <= set(uids)


@pytest.mark.skipif(shutil.which("dcmdump") is None, reason="dcmtk's dcmdump is not installed (.ci/run installs it)")
def test_dcmdump_parses_the_seg(series: Study, tmp_path: Path) -> None:
    lung, lesion = masks(series.read(0).shape)
    collector = AnatomyCollector("zones", is_volume=True)
    for i in range(SLICES):
        collector.add(i, lung[i], lesion[i])
    collector.finish(None)
    path = write_dicom_seg(series, collector, tmp_path / "seg.dcm")
    run = subprocess.run(["dcmdump", "-q", str(path)], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert "SegmentLabel" in run.stdout and "lesion, right upper zone" in run.stdout


def anonymised_copy(study: Study, folder: Path, drop: tuple[str, ...]) -> Study:
    folder.mkdir()
    for source in study.sources:
        ds = pydicom.dcmread(source)
        for keyword in drop:
            if keyword in ds:
                delattr(ds, keyword)
        ds.save_as(folder / Path(source).name, enforce_file_format=True)
    (copy,) = [s for s in discover([folder]) if isinstance(s, Study)]
    return copy


def test_anonymised_series_without_patient_attributes_still_gets_a_seg(series: Study, tmp_path: Path) -> None:
    bare = anonymised_copy(series, tmp_path / "bare", ("PatientName", "PatientBirthDate", "StudyDate", "StudyTime"))
    lung, lesion = masks(bare.read(0).shape)
    collector = AnatomyCollector("lobes", is_volume=True)
    for i in range(SLICES):
        collector.add(i, lung[i], lesion[i])
    collector.finish(None)
    seg = pydicom.dcmread(write_dicom_seg(bare, collector, tmp_path / "seg.dcm"))
    assert seg.PatientName == "" and seg.StudyInstanceUID == pydicom.dcmread(bare.sources[0]).StudyInstanceUID


def test_series_without_instance_uids_gets_no_seg_and_says_why(series: Study, tmp_path: Path) -> None:
    from ctangel.errors import InputError

    collector = AnatomyCollector("lobes", is_volume=True)
    lung, lesion = masks(series.read(0).shape)
    for i in range(SLICES):
        collector.add(i, lung[i], lesion[i])
    collector.finish(None)
    first = pydicom.dcmread(series.sources[0])
    first.SOPInstanceUID = ""
    broken = tmp_path / "IM-empty.dcm"
    first.save_as(broken)
    study = Study(**{**series.__dict__, "sources": [str(broken), *series.sources[1:]]})
    with pytest.raises(InputError, match="no SOP Instance UID"):
        write_dicom_seg(study, collector, tmp_path / "seg.dcm")
    assert not (tmp_path / "seg.dcm").exists()
