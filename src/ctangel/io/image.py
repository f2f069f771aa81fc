"""8-bit image slices (PNG, JPEG, BMP, TIFF), taken as already windowed, like CT-Angel's JPEG slices.

A folder of images is one study: its slices in natural order of file names (``s2`` before ``s10``), the
patient named after the folder. Images carry no geometry: display orientation is the stored one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from ctangel.errors import InputError
from ctangel.io.paths import folder_name, is_hidden, natural_key
from ctangel.io.study import DisplayTransform, SlicePixels, Study

#: File endings read as 8-bit slices.
IMAGE_SUFFIXES: Final = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})


def is_image_file(path: Path) -> bool:
    """Whether ``path`` has an image file ending."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def read_image(path: str | Path) -> npt.NDArray[np.uint8]:
    """Read an image slice as 2-D 8-bit grey values.

    Grey images are returned as they are; colour images (RGB) are converted with ITU-R 601 luma, so a
    grey image stored as three equal channels comes back unchanged; an alpha channel is composited on
    black (transparent parts of a figure are not tissue). 16-bit grey images are scaled to 0..255.

    Args:
        path: the image file.

    Returns:
        array ``(rows, cols)`` of uint8.

    Raises:
        InputError: the file is missing, is not an image, or is truncated.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            return _to_grey(im)
    except FileNotFoundError as exc:
        raise InputError(path, "no such file") from exc
    except UnidentifiedImageError as exc:
        raise InputError(path, "not a readable image (PNG, JPEG, BMP or TIFF expected)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(path, f"the image is damaged or truncated ({exc})") from exc


def _to_grey(im: Image.Image) -> npt.NDArray[np.uint8]:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        return np.round(scaled).astype(np.uint8)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        black = Image.new("RGBA", im.size, (0, 0, 0, 255))
        im = Image.alpha_composite(black, im)
    if im.mode != "L":
        im = im.convert("RGB").convert("L")
    return np.asarray(im, dtype=np.uint8).copy()


def read_label(path: str | Path, threshold: int) -> npt.NDArray[np.bool_]:
    """Read a label image (white = foreground) as a boolean mask, cut at ``threshold`` (JPEG artefacts).

    Raises:
        InputError: the file cannot be read as an image.
    """
    return read_image(path) > threshold


def image_size(path: str | Path) -> tuple[int, int]:
    """An image's ``(rows, cols)`` from its header, without decoding the pixels.

    Raises:
        InputError: the file is missing or is not an image PIL can identify.
    """
    try:
        with Image.open(path) as im:
            cols, rows = im.size
    except FileNotFoundError as exc:
        raise InputError(path, "no such file") from exc
    except UnidentifiedImageError as exc:
        raise InputError(path, "not a readable image (PNG, JPEG, BMP or TIFF expected)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(path, f"the image is damaged ({exc})") from exc
    return rows, cols


def image_study(
    paths: Sequence[str],
    folder: str,
    study_id: str | None = None,
    input_path: str | None = None,
    patient_id: str | None = None,
    display: DisplayTransform | None = None,
) -> Study:
    """One study of 8-bit slices from image files, in the order given.

    Args:
        paths: the image files, as given or as found (kept as they are in ``sources``).
        folder: the folder holding them; its name is the patient's unless ``patient_id`` is given.
        study_id: the study's and series' name; by default the folder's name.
        input_path: the study's ``input``; by default ``folder``.
        patient_id: the patient, when the folder's name is not it.
        display: how the stored images turn to display orientation (default: they are in it).

    Raises:
        ValueError: ``paths`` is empty.
    """
    if not paths:
        raise ValueError(f"{folder}: no image files for a study")
    name = study_id or folder_name(folder)
    sources = list(paths)
    display = display or DisplayTransform()
    return Study(
        patient_id=patient_id or folder_name(folder),
        study_id=name,
        series_id=name,
        input=input_path or folder,
        kind="uint8",
        sources=sources,
        loader=_image_loader(tuple(sources), display),
        display=display,
        is_volume=False,
        description="8-bit images",
    )


def read_image_folder(folder: str | Path) -> Study:
    """The images directly in ``folder`` (not in sub-folders) as one study, in natural file-name order.

    Files are judged by their ending (:data:`IMAGE_SUFFIXES`); hidden files are ignored. Pixels are read
    when a slice is asked for.

    Raises:
        InputError: the folder is missing or holds no image files.
    """
    name = str(folder)
    try:
        entries = os.listdir(name)
    except FileNotFoundError as exc:
        raise InputError(name, "no such folder") from exc
    except OSError as exc:
        raise InputError(name, f"cannot list the folder ({exc.strerror or exc})") from exc
    files = sorted(
        (e for e in entries if not is_hidden(e) and is_image_file(Path(e)) and os.path.isfile(os.path.join(name, e))),
        key=natural_key,
    )
    if not files:
        raise InputError(name, f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in the folder")
    return image_study([os.path.join(name, f) for f in files], name)


def read_image_file(path: str | Path) -> Study:
    """A single image file as a one-slice study: patient = the folder holding it, study = the file's name.

    Raises:
        InputError: the file is missing or not an image.
    """
    name = str(path)
    image_size(name)
    return image_study([name], os.path.dirname(name) or ".", study_id=Path(name).name, input_path=name)


def _image_loader(paths: tuple[str, ...], display: DisplayTransform) -> Callable[[int], SlicePixels]:
    def load(index: int) -> SlicePixels:
        pixels = read_image(paths[index])
        return pixels if display.is_identity else display.apply(pixels)

    return load
