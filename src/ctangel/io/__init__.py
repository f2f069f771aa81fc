"""Input: DICOM series, NIfTI volumes and 8-bit images as studies of display-oriented slices.

:func:`discover` is the one entry point: it turns the paths a user gives into :class:`Study` objects
(or :class:`~ctangel.errors.InputError` for inputs it cannot use), each read lazily one slice at a time.
"""

from __future__ import annotations

from ctangel.io.dicom import (
    CtSliceHeader,
    SkippedFile,
    dicom_studies,
    display_transform,
    hu_from_dataset,
    read_dicom_header,
    read_dicom_slice,
)
from ctangel.io.discover import discover
from ctangel.io.image import (
    IMAGE_SUFFIXES,
    image_size,
    image_study,
    is_image_file,
    read_image,
    read_image_file,
    read_image_folder,
    read_label,
)
from ctangel.io.nifti import mask_to_nifti, read_nifti, save_mask_nifti
from ctangel.io.paths import is_nifti_file, natural_key
from ctangel.io.study import DisplayTransform, SlicePixels, Study, VolumeGrid

__all__ = [
    "IMAGE_SUFFIXES",
    "CtSliceHeader",
    "DisplayTransform",
    "SkippedFile",
    "SlicePixels",
    "Study",
    "VolumeGrid",
    "dicom_studies",
    "discover",
    "display_transform",
    "hu_from_dataset",
    "image_size",
    "image_study",
    "is_image_file",
    "is_nifti_file",
    "mask_to_nifti",
    "natural_key",
    "read_dicom_header",
    "read_dicom_slice",
    "read_image",
    "read_image_file",
    "read_image_folder",
    "read_label",
    "read_nifti",
    "save_mask_nifti",
]
