"""8-bit image slices (PNG, JPEG, BMP, TIFF), taken as already windowed, like CT-Angel's JPEG slices.

A folder of images is one study: its slices in natural order of file names (``s2`` before ``s10``), the
patient named after the folder. Images carry no geometry: display orientation is the stored one.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from ctangel.errors import InputError
from ctangel.io.limits import check_image_pixels, max_image_pixels
from ctangel.io.paths import folder_name, is_hidden, natural_key
from ctangel.io.study import DisplayTransform, SlicePixels, Study

#: File endings read as 8-bit slices.
IMAGE_SUFFIXES: Final = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
#: Pillow modes of 16- and 32-bit grey images, scaled to 0..255 from each image's own range.
WIDE_GREY_MODES: Final = frozenset({"I;16", "I;16B", "I;16L", "I", "F"})
#: How such images are scaled, as results.json and the report describe their study.
WIDE_GREY_DESCRIPTION: Final = (
    "16/32-bit grey images, each scaled linearly from its own minimum..maximum to 0..255 (no HU window: "
    "give DICOM or NIfTI for HU, or 8-bit slices already windowed)"
)


def is_image_file(path: Path) -> bool:
    """Whether ``path`` has an image file ending."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def read_image(path: str | Path) -> npt.NDArray[np.uint8]:
    """Read an image slice as 2-D 8-bit grey values.

    Grey images are returned as they are; colour images (RGB) are converted with ITU-R 601 luma, so a
    grey image stored as three equal channels comes back unchanged; an alpha channel is composited on
    black (transparent parts of a figure are not tissue). 16-bit (and 32-bit) grey images are scaled
    linearly from the image's own minimum..maximum to 0..255 (:data:`WIDE_GREY_DESCRIPTION`). The size is
    checked against :func:`~ctangel.io.limits.max_image_pixels` before the pixels are decoded.

    Args:
        path: the image file.

    Returns:
        array ``(rows, cols)`` of uint8.

    Raises:
        InputError: the file is missing, is not an image, is truncated, is over the pixel cap, or holds
            values that are not finite.
    """
    path = Path(path)
    with _opened(path) as im:
        _check_size(path, im)
        try:
            im.load()
            return _to_grey(im, path)
        except InputError:
            raise
        except Exception as exc:  # Pillow's decoders raise many types on damaged data
            raise InputError(path, f"the image is damaged or truncated ({type(exc).__name__}: {exc})") from exc


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[Image.Image]:
    """The image opened lazily (header only), with every way Pillow fails turned into :class:`InputError`."""
    try:
        with warnings.catch_warnings():  # the size is checked against ctangel's own cap next
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except FileNotFoundError as exc:
        raise InputError(path, "no such file") from exc
    except UnidentifiedImageError as exc:
        raise InputError(path, "not a readable image (PNG, JPEG, BMP or TIFF expected)") from exc
    except Image.DecompressionBombError as exc:  # Pillow's own cap, checked at open for huge images
        raise InputError(path, f"the image is over the limit of {max_image_pixels()} pixels per image ({exc})") from exc
    except Exception as exc:  # Pillow's header parsers raise many types on damaged files
        raise InputError(path, f"the image is damaged ({type(exc).__name__}: {exc})") from exc
    with im:
        yield im


def _check_size(path: Path, im: Image.Image) -> None:
    cols, rows = im.size
    check_image_pixels(str(path), rows, cols)


def _to_grey(im: Image.Image, path: Path) -> npt.NDArray[np.uint8]:
    if im.mode in WIDE_GREY_MODES:
        arr = np.asarray(im, dtype=np.float64)
        if arr.ndim != 2:
            raise InputError(path, f"a {im.mode} image of shape {arr.shape}; give a grey image")
        finite = np.isfinite(arr)
        if not finite.all():
            raise InputError(
                path, f"{int(arr.size - finite.sum())} pixels are NaN or infinite; the image holds no usable values"
            )
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
        InputError: the file is missing, is not an image PIL can identify, or is over the pixel cap.
    """
    return image_header(path)[:2]


def image_header(path: str | Path) -> tuple[int, int, str]:
    """An image's ``(rows, cols, mode)`` (Pillow's mode: ``L``, ``RGB``, ``I;16`` ...) from its header.

    Raises:
        InputError: the file is missing, is not an image PIL can identify, or is over the pixel cap.
    """
    with _opened(Path(path)) as im:
        _check_size(Path(path), im)
        cols, rows = im.size
        return rows, cols, im.mode


def is_wide_grey(mode: str) -> bool:
    """Whether images of Pillow ``mode`` are scaled from their own range (16/32-bit grey)."""
    return mode in WIDE_GREY_MODES


def image_study(
    paths: Sequence[str],
    folder: str,
    study_id: str | None = None,
    input_path: str | None = None,
    patient_id: str | None = None,
    display: DisplayTransform | None = None,
    description: str = "8-bit images",
) -> Study:
    """One study of 8-bit slices from image files, in the order given.

    Args:
        paths: the image files, as given or as found (kept as they are in ``sources``).
        folder: the folder holding them; its name is the patient's unless ``patient_id`` is given.
        study_id: the study's and series' name; by default the folder's name.
        input_path: the study's ``input``; by default ``folder``.
        patient_id: the patient, when the folder's name is not it.
        display: how the stored images turn to display orientation (default: they are in it).
        description: the study's description (say how the images were scaled, when they are not 8-bit).

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
        description=description,
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
    paths = [os.path.join(name, f) for f in files]
    wide = any(is_wide_grey(image_header(p)[2]) for p in paths)
    return image_study(paths, name, description=WIDE_GREY_DESCRIPTION if wide else "8-bit images")


def read_image_file(path: str | Path) -> Study:
    """A single image file as a one-slice study: patient = the folder holding it, study = the file's name.

    Raises:
        InputError: the file is missing or not an image.
    """
    name = str(path)
    _, _, mode = image_header(name)
    return image_study(
        [name],
        os.path.dirname(name) or ".",
        study_id=Path(name).name,
        input_path=name,
        description=WIDE_GREY_DESCRIPTION if is_wide_grey(mode) else "8-bit images",
    )


def _image_loader(paths: tuple[str, ...], display: DisplayTransform) -> Callable[[int], SlicePixels]:
    def load(index: int) -> SlicePixels:
        pixels = read_image(paths[index])
        return pixels if display.is_identity else display.apply(pixels)

    return load
