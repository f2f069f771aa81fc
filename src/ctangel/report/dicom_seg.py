"""DICOM SEG out: one Segmentation object per DICOM series, with the lesion and the lung per lobe (or zone).

Segments do not overlap, so the whole study is one label per voxel (one byte each while the object is
made) and any SEG viewer shows it as is. For each region ``R`` of the run's ``regions_method`` (in
:func:`ctangel.anatomy.regions.regions_of` order) segment ``k + 1`` is the lesion in ``R`` and segment
``n + k + 1`` the rest of ``R``'s lung, so that

* the lesion is the union of segments ``1..n`` (its voxels = results.json ``anatomy`` lesion_px),
* the lung is the union of all segments (``anatomy`` lung_px: the lung mask and the lesion),
* a lobe (or zone) is its two segments.

Frames follow the source instances one to one (stored orientation: each frame lies on its source image's
pixels); empty frames are left out. Each frame references its source instance; the object references the
source series, and shares its study, patient and frame of reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

from ctangel import __version__
from ctangel.errors import InputError
from ctangel.log import logger

if TYPE_CHECKING:
    import highdicom as hd
    import pydicom

    from ctangel.anatomy import AnatomyCollector, Region
    from ctangel.io.study import Study

SEG_SUFFIX: Final = ".dcm"
SEG_SERIES_NUMBER: Final = 9901
SEG_SERIES_DESCRIPTION: Final = "ctangel lesions and lungs"
MANUFACTURER: Final = "ctangel"
#: SNOMED CT codes (scheme SCT) of the structures segmented.
SCT_CODES: Final[dict[str, tuple[str, str]]] = {
    "RUL": ("45653009", "Upper lobe of right lung"),
    "RML": ("72481006", "Middle lobe of right lung"),
    "RLL": ("90572001", "Lower lobe of right lung"),
    "LUL": ("44714003", "Upper lobe of left lung"),
    "LLL": ("41224006", "Lower lobe of left lung"),
    "right": ("3341006", "Right lung"),
    "left": ("44029006", "Left lung"),
}
#: Type 2 attributes of the patient and general study modules, which the SEG copies from its sources.
EMPTY_IF_MISSING: Final = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
)
#: Segment colours (CIELab is what SEG stores; highdicom converts from RGB): lesion red, lung blue/orange.
LESION_RGB: Final = (220, 40, 40)
RIGHT_RGB: Final = (0, 114, 178)
LEFT_RGB: Final = (230, 159, 0)


def is_dicom_series(study: Study) -> bool:
    """Whether ``study`` was read from DICOM files (one file per slice)."""
    return study.kind == "hu" and study.is_volume and study.grid is not None and "#" not in study.sources[0]


def write_dicom_seg(study: Study, collector: AnatomyCollector, path: Path) -> Path:
    """Write the SEG of ``study`` to ``path`` from its collected masks (``collector.finish`` already run).

    Raises:
        InputError: the source files cannot be read again, or highdicom refuses them (the message says why).
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    sources = _read_sources(study)
    regions = _regions(collector)
    labels = np.zeros((len(sources), int(sources[0].Rows), int(sources[0].Columns)), dtype=np.uint8)
    n = len(regions)
    for i in range(len(sources)):
        if i not in collector.lungs:
            continue
        region = collector.region_map(i)
        lesion = collector.lesions.get(i)
        frame = np.where(region > 0, region + np.where(lesion, 0, n), 0).astype(np.uint8)
        labels[i] = study.display.invert(frame)
    algorithm = hd.AlgorithmIdentificationSequence(
        name="ctangel", version=__version__, family=codes.cid7162.ArtificialIntelligence
    )
    descriptions = [
        _description(k + 1, region, lesion=True, algorithm=algorithm) for k, region in enumerate(regions)
    ] + [_description(n + k + 1, region, lesion=False, algorithm=algorithm) for k, region in enumerate(regions)]
    try:
        seg = hd.seg.Segmentation(
            source_images=sources,
            pixel_array=labels,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions,
            series_instance_uid=hd.UID(),
            series_number=SEG_SERIES_NUMBER,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer=MANUFACTURER,
            manufacturer_model_name="ctangel",
            software_versions=__version__,
            device_serial_number="0",
            series_description=SEG_SERIES_DESCRIPTION,
            content_description="COVID-19 pneumonia lesions and lungs",
            content_label="CTANGEL",
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise InputError(study.input, f"no DICOM SEG could be made from this series ({exc})") from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        seg.save_as(tmp, enforce_file_format=True)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("%s: DICOM SEG with %d segments written to %s", study.input, len(descriptions), path)
    return path


def _read_sources(study: Study) -> list[pydicom.Dataset]:
    """The series' headers; type 2 patient and study attributes that anonymisation removed are added empty
    (the SEG copies them, and DICOM allows them empty but not absent)."""
    import pydicom

    out: list[pydicom.Dataset] = []
    for source in study.sources:
        try:
            ds = pydicom.dcmread(source, stop_before_pixels=True)
        except (OSError, pydicom.errors.InvalidDicomError) as exc:
            raise InputError(source, f"cannot be read again for the DICOM SEG ({exc})") from exc
        if not str(ds.get("SOPInstanceUID", "") or ""):
            raise InputError(source, "has no SOP Instance UID, so a DICOM SEG cannot reference it; none written")
        for keyword in EMPTY_IF_MISSING:
            if keyword not in ds:
                setattr(ds, keyword, "")
        out.append(ds)
    return out


def _regions(collector: AnatomyCollector) -> Sequence[Region]:
    from ctangel.anatomy.regions import regions_of

    return regions_of(collector.method)


def _description(
    number: int, region: Region, lesion: bool, algorithm: hd.AlgorithmIdentificationSequence
) -> hd.seg.SegmentDescription:
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.sr.coding import Code

    from ctangel.anatomy.lungs import RIGHT

    side = "right" if region.side == RIGHT else "left"
    value, meaning = SCT_CODES.get(region.key, SCT_CODES[side])
    place = Code(value, "SCT", meaning)
    if lesion:
        category, kind, rgb = codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Lesion, LESION_RGB
        label = f"lesion, {region.name}"
    else:
        category, kind, rgb = codes.SCT.AnatomicalStructure, place, RIGHT_RGB if region.side == RIGHT else LEFT_RGB
        label = f"lung, {region.name} (without lesion)"
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=label[:64],
        segmented_property_category=category,
        segmented_property_type=kind,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm,
        tracking_uid=hd.UID(),
        tracking_id=f"ctangel {'lesion' if lesion else 'lung'} {region.key}",
        anatomic_regions=[place],
        display_color=hd.color.CIELabColor.from_rgb(*rgb),
    )
