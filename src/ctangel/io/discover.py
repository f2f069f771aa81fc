"""The one entry point the pipeline calls: paths in, studies (or what is wrong with an input) out.

An input may be a DICOM file, a NIfTI file, an image file, or a folder. A folder is walked (hidden files
and folders are ignored, links to folders are not followed): DICOM files anywhere under it, whatever
their names, are grouped by series (one study each); each NIfTI file is a study; each folder that
directly holds image files is one study of 8-bit slices. Files that are none of these (text, XML, ...)
are ignored silently (logged at debug level); DICOM objects that are not CT slices (SR, SEG, RT,
secondary capture, localizers, DICOMDIR) are skipped with one info line each, also kept in
:attr:`Study.skipped` of the studies in the same folder (else of those in folders below it).

Paths are kept as given: ``sources`` and ``input`` are the given path joined with what was found under
it, never resolved or made absolute.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from ctangel.errors import InputError
from ctangel.io.dicom import CtSliceHeader, SkippedFile, dicom_studies, read_dicom_header
from ctangel.io.image import (
    WIDE_GREY_DESCRIPTION,
    image_header,
    image_study,
    is_image_file,
    is_wide_grey,
    read_image_file,
)
from ctangel.io.nifti import read_nifti
from ctangel.io.paths import folder_name, is_hidden, is_nifti_file, natural_key
from ctangel.io.study import Study
from ctangel.log import logger

#: What a user can give, for error messages.
_WHAT_TO_GIVE = (
    "give a DICOM CT file or a folder holding a series, a NIfTI volume (.nii, .nii.gz), or PNG/JPEG/BMP/TIFF slices"
)


def discover(inputs: Sequence[str | Path]) -> Iterator[Study | InputError]:
    """Every study under the inputs, one at a time; a bad input is yielded as an :class:`InputError`.

    Inputs are handled in the order given; what one input holds comes out in natural order of paths
    (DICOM series of one folder by SeriesNumber). Nothing is raised for a bad input (missing path,
    unreadable, damaged or truncated file, a folder holding nothing to analyse): the error names the path
    and the problem, and the other inputs go on. A study's pixels are read only when a slice is asked
    for; a slice that fails then raises :class:`InputError` naming its file.

    Args:
        inputs: files and folders, as the user gave them.
    """
    for given in inputs:
        name = str(given)
        try:
            found = _discover_one(name)
        except OSError as exc:
            found = [InputError(name, f"cannot be read ({exc.strerror or exc}); check its permissions")]
        yield from found


def _discover_one(given: str) -> list[Study | InputError]:
    if not os.path.exists(given):
        if os.path.lexists(given):
            return [InputError(given, "a link to nothing; check the path")]
        return [InputError(given, "no such file or folder; check the path")]
    if os.path.isdir(given):
        return _discover_folder(given)
    if not os.path.isfile(given):
        return [InputError(given, f"not a regular file or folder (a device or pipe?); {_WHAT_TO_GIVE}")]
    return [_discover_file(given)]


def _discover_file(given: str) -> Study | InputError:
    try:
        if is_nifti_file(given):
            return read_nifti(given)
        if is_image_file(Path(given)):
            return read_image_file(given)
        header = read_dicom_header(given)
    except InputError as exc:
        return exc
    if header is None:
        return InputError(given, f"not a DICOM, NIfTI or image file; {_WHAT_TO_GIVE}")
    if isinstance(header, SkippedFile):
        _log_skipped(header)
        return InputError(given, f"nothing to analyse here: {header.reason}")
    studies, _ = dicom_studies([header], input_path=given)
    return studies[0]


def _discover_folder(root: str) -> list[Study | InputError]:
    errors: list[InputError] = []
    image_folders: dict[str, list[str]] = {}
    volumes: list[str] = []
    others: list[str] = []

    def unlistable(exc: OSError) -> None:
        where = str(exc.filename or root)
        errors.append(InputError(where, f"cannot list the folder ({exc.strerror or exc}); check its permissions"))

    for folder, subfolders, files in os.walk(root, onerror=unlistable):
        subfolders[:] = sorted((d for d in subfolders if not is_hidden(d)), key=natural_key)
        for file in sorted(files, key=natural_key):
            path = os.path.join(folder, file)
            if is_hidden(file) or not os.path.isfile(path):
                continue
            if is_nifti_file(file):
                volumes.append(path)
            elif is_image_file(Path(file)):
                image_folders.setdefault(folder, []).append(path)
            else:
                others.append(path)

    headers: list[CtSliceHeader] = []
    skipped: list[SkippedFile] = []
    for path in others:
        try:
            header = read_dicom_header(path)
        except InputError as exc:
            errors.append(exc)
            continue
        if header is None:
            logger.debug("%s: not DICOM, NIfTI or an image; ignored", path)
        elif isinstance(header, SkippedFile):
            skipped.append(header)
        else:
            headers.append(header)
    studies, dropped = dicom_studies(headers)
    skipped.extend(dropped)

    for path in volumes:
        try:
            studies.append(read_nifti(path))
        except InputError as exc:
            errors.append(exc)
    for folder, paths in image_folders.items():
        readable = []
        wide = False
        for path in paths:
            try:
                _, _, mode = image_header(path)
            except InputError as exc:
                errors.append(exc)
                continue
            wide = wide or is_wide_grey(mode)
            readable.append(path)
        if readable:
            name = folder_name(folder) if folder == root else Path(os.path.relpath(folder, root)).as_posix()
            description = WIDE_GREY_DESCRIPTION if wide else "8-bit images"
            studies.append(image_study(readable, folder, study_id=name, description=description))

    for item in skipped:
        _log_skipped(item)
        for study in _beside(item.path, studies):
            study.skipped.append(item.line)

    if not studies and not errors:
        looked = len(others) + len(volumes) + sum(len(p) for p in image_folders.values())
        note = f"{looked} files looked at"
        if skipped:
            note += f"; {len(skipped)} DICOM objects skipped, such as {skipped[0].reason}"
        errors.append(
            InputError(root, f"nothing to analyse: no CT series, volume or image found ({note}); {_WHAT_TO_GIVE}")
        )

    found: list[Study | InputError] = [*studies, *errors]
    found.sort(key=lambda item: natural_key(item.path if isinstance(item, InputError) else item.input))
    return found


def _beside(path: str, studies: list[Study]) -> list[Study]:
    """The studies in the skipped file's folder, else those in folders below it."""
    folder = os.path.dirname(path)
    same = [s for s in studies if _study_folder(s) == folder]
    if same:
        return same
    return [s for s in studies if _within(_study_folder(s), folder)]


def _study_folder(study: Study) -> str:
    return os.path.dirname(study.input) if is_nifti_file(study.input) else study.input


def _within(child: str, parent: str) -> bool:
    try:
        return os.path.commonpath([child, parent]) == os.path.normpath(parent)
    except ValueError:
        return False


def _log_skipped(item: SkippedFile) -> None:
    logger.info("skipped %s", item.line)
