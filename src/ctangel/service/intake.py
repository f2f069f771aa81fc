"""Checking an upload before it becomes a job: what it is (by its bytes), whether it unpacks safely, and
whether the pipeline's discovery finds something to analyse in it.

Everything here is cheap next to the analysis and runs while the client waits, so that bad input gets an
answer (an :class:`UploadError` with an HTTP status) instead of a job that fails later:

* the kind is sniffed from the first bytes (zip, DICOM ``DICM`` preamble, NIfTI-1/2 header, gzip holding a
  NIfTI header, PNG, JPEG, BMP, TIFF), never taken from the file's name;
* a zip is unpacked with its entries' paths, types, count, declared sizes and compression ratios checked
  first, and the bytes counted while unpacking (a header that lies is caught by the count or the CRC);
* a gzip-compressed NIfTI is decompressed once as a stream, counting bytes, to catch truncation and bombs;
* an image is decoded once (catches truncation), after its declared size is checked;
* :func:`ctangel.io.discover` then runs on the job's input folder, as the worker will: it rejects DICOM
  objects that are not CT and files whose pixel data is cut short, and finds the studies.
"""

from __future__ import annotations

import errno
import gzip
import os
import re
import shutil
import stat
import struct
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from http import HTTPStatus
from pathlib import Path
from typing import Final

from PIL import Image

from ctangel.errors import CtangelError, InputError
from ctangel.io.deidentify import Deidentifier
from ctangel.io.discover import discover
from ctangel.io.limits import max_image_pixels
from ctangel.io.study import Study
from ctangel.report.names import UniqueNames, safe_name

#: Bytes read to tell what a file is.
SNIFF_BYTES: Final = 560
#: Compressed bytes read to sniff a gzip file's content, and zlib's window bits for the gzip format.
GZIP_SNIFF_BYTES: Final = 64 * 1024
GZIP_WBITS: Final = 16 + zlib.MAX_WBITS
#: Bytes copied at a time (uploads, unpacking, decompression).
CHUNK_BYTES: Final = 1024 * 1024
#: A zip entry, or the whole zip, unpacking to more than this many times its packed size is refused ...
MAX_COMPRESSION_RATIO: Final = 200
#: ... when it unpacks to more than this (tiny files of zeros have huge ratios and do no harm).
RATIO_CHECK_MIN_BYTES: Final = 1024 * 1024
#: Deepest folder nesting and longest name component (bytes) allowed in a zip.
MAX_ZIP_DEPTH: Final = 32
MAX_NAME_BYTES: Final = 255
#: Error lines quoted in a rejection.
MAX_QUOTED_ERRORS: Final = 5

_WHAT_TO_GIVE: Final = (
    "give a zip of a DICOM folder, DICOM CT files, a NIfTI volume (.nii or .nii.gz) or PNG/JPEG/BMP/TIFF slices"
)
_DRIVE = re.compile(r"^[A-Za-z]:")
#: Bit 0 of a zip entry's general purpose flags: the entry is encrypted.
_ENCRYPTED_FLAG: Final = 0x1
#: Characters of a client's file name shown in a message.
MAX_SHOWN_NAME_CHARS: Final = 100


class UploadError(CtangelError):
    """An upload that cannot become a job, with the HTTP status to answer.

    Args:
        status: the HTTP status (4xx).
        detail: what is wrong and what to do, naming the uploaded file (never a server path).
    """

    def __init__(self, status: HTTPStatus, detail: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(detail)


class FileKind(StrEnum):
    """What an uploaded file is, by its first bytes."""

    zip = "zip"
    dicom = "dicom"
    nifti = "nifti"
    nifti_gz = "nifti_gz"
    png = "png"
    jpeg = "jpeg"
    bmp = "bmp"
    tiff = "tiff"


#: The ending a file of each kind gets in the job's input folder (discovery reads endings).
SUFFIXES: Final[dict[FileKind, str]] = {
    FileKind.dicom: ".dcm",
    FileKind.nifti: ".nii",
    FileKind.nifti_gz: ".nii.gz",
    FileKind.png: ".png",
    FileKind.jpeg: ".jpg",
    FileKind.bmp: ".bmp",
    FileKind.tiff: ".tif",
}
#: Endings dropped from a client's file name before the sniffed kind's ending is added (longest first).
_KNOWN_ENDINGS: Final = (".nii.gz", ".dicom", ".jpeg", ".tiff", ".nii", ".dcm", ".png", ".jpg", ".bmp", ".tif", ".gz")
IMAGE_KINDS: Final = frozenset({FileKind.png, FileKind.jpeg, FileKind.bmp, FileKind.tiff})

_ZIP_MAGIC: Final = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_DICOM_PREAMBLE: Final = 128
_DICOM_MAGIC: Final = b"DICM"
_GZIP_MAGIC: Final = b"\x1f\x8b"
_IMAGE_MAGIC: Final[tuple[tuple[bytes, FileKind], ...]] = (
    (b"\x89PNG\r\n\x1a\n", FileKind.png),
    (b"\xff\xd8\xff", FileKind.jpeg),
    (b"II*\x00", FileKind.tiff),
    (b"MM\x00*", FileKind.tiff),
    (b"BM", FileKind.bmp),
)
#: NIfTI-1: sizeof_hdr 348, magic at 344; NIfTI-2: sizeof_hdr 540, magic at 4.
_NIFTI1 = (348, 344, (b"n+1\x00",))
_NIFTI2 = (540, 4, (b"n+2\x00",))


@dataclass(frozen=True)
class ReceivedFile:
    """An uploaded file, written in full to the data folder.

    Args:
        path: where it lies (a temporary name).
        filename: the name the client gave (shown back, never used as a path).
        size: bytes.
    """

    path: Path
    filename: str
    size: int


@dataclass(frozen=True)
class UploadLimits:
    """What an upload may unpack to."""

    max_unzipped_bytes: int
    max_files: int


@dataclass
class PreparedInput:
    """An upload checked and laid out in its input folder, ready to queue.

    Args:
        n_files: files in the input folder.
        size_bytes: bytes uploaded.
        n_studies: studies discovery found.
        n_slices: their slices.
        warnings: inputs discovery could not use (the job analyses the others).
    """

    n_files: int
    size_bytes: int
    n_studies: int
    n_slices: int
    warnings: list[str] = field(default_factory=list)


def sniff(path: Path) -> FileKind | None:
    """What ``path`` holds, judged by its first bytes; None when none of the accepted kinds."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    if head.startswith(_ZIP_MAGIC):
        return FileKind.zip
    if head[_DICOM_PREAMBLE : _DICOM_PREAMBLE + len(_DICOM_MAGIC)] == _DICOM_MAGIC:
        return FileKind.dicom
    if _is_nifti_header(head):
        return FileKind.nifti
    if head.startswith(_GZIP_MAGIC):
        # A stream decompressor: a file cut short still shows its first bytes (check_gzip reports the cut).
        with open(path, "rb") as f:
            packed = f.read(GZIP_SNIFF_BYTES)
        try:
            inner = zlib.decompressobj(wbits=GZIP_WBITS).decompress(packed, SNIFF_BYTES)
        except zlib.error:
            return None
        return FileKind.nifti_gz if _is_nifti_header(inner) else None
    for magic, kind in _IMAGE_MAGIC:
        if head.startswith(magic):
            return kind
    return None


def _is_nifti_header(head: bytes) -> bool:
    for size, magic_at, magics in (_NIFTI1, _NIFTI2):
        if len(head) < max(magic_at + 4, 4):
            continue
        first = head[:4]
        if size in (struct.unpack("<i", first)[0], struct.unpack(">i", first)[0]) and (
            head[magic_at : magic_at + 4] in magics
        ):
            return True
    return False


def prepare_input(
    files: Sequence[ReceivedFile], input_dir: Path, limits: UploadLimits, deidentifier: Deidentifier | None = None
) -> PreparedInput:
    """Check the uploaded files and lay them out in ``input_dir`` as the worker will read them.

    A zip must come alone and is unpacked (then deleted); other files are moved in under safe names with the
    ending of their sniffed kind. Every file written is fsynced.

    Args:
        files: the upload's files (in the same file system as ``input_dir``).
        input_dir: the folder to create and fill.
        limits: what the upload may unpack to.
        deidentifier: when given, the warnings name the upload's files by keyed hashes.

    Raises:
        UploadError: the upload is not something to analyse, is damaged, unsafe or too large.
    """
    if not files:
        raise UploadError(HTTPStatus.UNPROCESSABLE_ENTITY, f"no file in the upload (field 'file'); {_WHAT_TO_GIVE}")
    if len(files) > limits.max_files:
        raise UploadError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"{len(files)} files in one upload; at most {limits.max_files}"
        )
    kinds = []
    for f in files:
        kind = sniff(f.path)
        if kind is None:
            raise UploadError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"{_quoted(f.filename)}: not a zip, DICOM, NIfTI or image file (judged by its content); "
                + _WHAT_TO_GIVE,
            )
        kinds.append(kind)
    input_dir.mkdir(parents=True, exist_ok=True)
    if FileKind.zip in kinds:
        if len(files) > 1:
            raise UploadError(
                HTTPStatus.BAD_REQUEST,
                f"{_quoted(files[kinds.index(FileKind.zip)].filename)}: a zip must be uploaded alone; "
                "put every file in the one zip",
            )
        n_files = extract_zip(files[0].path, input_dir, limits, files[0].filename)
        files[0].path.unlink()
    else:
        names = UniqueNames()
        for f, kind in zip(files, kinds, strict=True):
            _check_file(f, kind, limits)
            target = input_dir / names.take(_stem(f.filename), SUFFIXES[kind])
            _fsync_file(f.path)
            os.replace(f.path, target)
        n_files = len(files)
    fsync_dir(input_dir)
    studies, errors = _discover(input_dir, files[0].filename if len(files) == 1 else "the upload", deidentifier)
    if not studies:
        detail = _errors_text(errors) or f"nothing to analyse; {_WHAT_TO_GIVE}"
        raise UploadError(HTTPStatus.UNPROCESSABLE_ENTITY, detail)
    return PreparedInput(
        n_files=n_files,
        size_bytes=sum(f.size for f in files),
        n_studies=len(studies),
        n_slices=sum(len(s) for s in studies),
        warnings=errors,
    )


def _check_file(f: ReceivedFile, kind: FileKind, limits: UploadLimits) -> None:
    if kind is FileKind.nifti_gz:
        check_gzip(f.path, limits.max_unzipped_bytes, f.filename)
    elif kind in IMAGE_KINDS:
        check_image(f.path, f.filename)


def check_gzip(path: Path, max_bytes: int, filename: str) -> int:
    """Decompress ``path`` as a stream, counting bytes; returns the unpacked size.

    Raises:
        UploadError: it is damaged or cut short (400), or unpacks to more than ``max_bytes`` (413).
    """
    total = 0
    try:
        with gzip.open(path, "rb") as g:
            while chunk := g.read(CHUNK_BYTES):
                total += len(chunk)
                if total > max_bytes:
                    raise UploadError(
                        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                        f"{_quoted(filename)}: unpacks to more than {max_bytes} bytes, the limit",
                    )
    except EOFError as exc:
        raise UploadError(
            HTTPStatus.BAD_REQUEST, f"{_quoted(filename)}: the gzip data is cut short (truncated); upload it again"
        ) from exc
    except (OSError, zlib.error) as exc:
        raise UploadError(HTTPStatus.BAD_REQUEST, f"{_quoted(filename)}: damaged gzip data ({exc})") from exc
    return total


def check_image(path: Path, filename: str) -> None:
    """Decode the image once, after its size is checked against the pixel cap every reader enforces.

    Raises:
        UploadError: it is damaged or cut short (400), or larger than
            :func:`~ctangel.io.limits.max_image_pixels` (413).
    """
    cap = max_image_pixels()
    try:
        with warnings.catch_warnings():  # the size is checked against the cap right here
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
        with im:
            width, height = im.size
            if width * height > cap:
                raise _too_many_pixels(filename, f"{width} x {height} pixels", cap)
            im.load()
    except UploadError:
        raise
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(filename, "a decompression bomb", cap) from exc
    except Exception as exc:  # Pillow raises many types on damaged images; its messages may hold our path
        reason = str(exc).replace(str(path), "the file")
        raise UploadError(
            HTTPStatus.BAD_REQUEST, f"{_quoted(filename)}: a damaged or truncated image ({reason}); upload it again"
        ) from exc


def _too_many_pixels(filename: str, what: str, cap: int) -> UploadError:
    return UploadError(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        f"{_quoted(filename)}: {what}; at most {cap} pixels per image (a CT slice is at most a few thousand "
        "pixels a side)",
    )


def extract_zip(path: Path, dest: Path, limits: UploadLimits, filename: str = "the zip") -> int:
    """Unpack the zip at ``path`` into ``dest`` safely; returns the number of files written.

    Refused before anything is written: entries whose path is absolute, holds ``..``, a drive letter or a
    NUL, or is too deep or long; links and other special entries; encrypted entries; two entries with one
    path; more than ``limits.max_files`` files; declared sizes adding up to more than
    ``limits.max_unzipped_bytes``; entries (or the whole) whose declared size is over
    :data:`MAX_COMPRESSION_RATIO` times their packed size. While unpacking, bytes are counted against the
    declared sizes and the limit, and CRCs checked.

    Raises:
        UploadError: 400 (damaged, unsafe), 413 (too large, too many files, bomb-like), 422 (empty).
    """
    name = _quoted(filename)
    try:
        archive = zipfile.ZipFile(path)
    except NotImplementedError as exc:  # a zip spanning several disks, or another feature zipfile lacks
        raise UploadError(
            HTTPStatus.BAD_REQUEST, f"{name}: a zip this server cannot read ({exc}); zip the folder again as one file"
        ) from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise UploadError(
            HTTPStatus.BAD_REQUEST, f"{name}: not a readable zip archive ({exc}); is it truncated?"
        ) from exc
    with archive:
        infos = archive.infolist()
        planned = _plan_zip(infos, limits, name)
        total = 0
        dest_root = dest.resolve()
        for info, parts in planned:
            target = dest.joinpath(*parts)
            if not target.resolve().is_relative_to(dest_root):
                raise UploadError(HTTPStatus.BAD_REQUEST, f"{name}: entry {info.filename!r} escapes the zip's folder")
            written = 0
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, open(target, "xb") as out:
                    while chunk := src.read(CHUNK_BYTES):
                        written += len(chunk)
                        total += len(chunk)
                        if written > info.file_size:
                            raise UploadError(
                                HTTPStatus.BAD_REQUEST,
                                f"{name}: entry {info.filename!r} holds more than its declared size; "
                                "the zip is damaged",
                            )
                        if total > limits.max_unzipped_bytes:
                            raise UploadError(
                                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                f"{name}: unpacks to more than {limits.max_unzipped_bytes} bytes, the limit",
                            )
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise UploadError(
                    HTTPStatus.BAD_REQUEST, f"{name}: entry {info.filename!r} is damaged or truncated ({exc})"
                ) from exc
            except NotImplementedError as exc:
                raise UploadError(
                    HTTPStatus.BAD_REQUEST,
                    f"{name}: entry {info.filename!r} uses a compression this server cannot unpack ({exc}); "
                    "zip it again with the ordinary (deflate) method",
                ) from exc
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise UploadError(
                        HTTPStatus.INSUFFICIENT_STORAGE, "the server's disk is full; try again later"
                    ) from exc
                raise UploadError(
                    HTTPStatus.BAD_REQUEST,
                    f"{name}: entry {info.filename!r} cannot be unpacked (its path clashes with another entry's?)",
                ) from exc
            if written != info.file_size:
                raise UploadError(
                    HTTPStatus.BAD_REQUEST,
                    f"{name}: entry {info.filename!r} is shorter than declared; the zip is damaged",
                )
        for folder in {dest.joinpath(*parts[:-1]) for _, parts in planned}:
            fsync_dir(folder)
    return len(planned)


def _plan_zip(infos: list[zipfile.ZipInfo], limits: UploadLimits, name: str) -> list[tuple[zipfile.ZipInfo, list[str]]]:
    """The entries to write with their path components, after every check that needs no unpacking."""
    planned: list[tuple[zipfile.ZipInfo, list[str]]] = []
    seen: set[str] = set()
    for info in infos:
        parts = _member_parts(info, name)
        if info.flag_bits & _ENCRYPTED_FLAG:
            raise UploadError(
                HTTPStatus.BAD_REQUEST, f"{name}: entry {info.filename!r} is encrypted; upload an unencrypted zip"
            )
        mode = info.external_attr >> 16
        if mode and stat.S_ISLNK(mode):
            raise UploadError(
                HTTPStatus.BAD_REQUEST, f"{name}: entry {info.filename!r} is a symbolic link; links are not accepted"
            )
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):  # 0: no type recorded, a file
            raise UploadError(HTTPStatus.BAD_REQUEST, f"{name}: entry {info.filename!r} is not a regular file")
        if info.is_dir() or not parts:
            continue
        key = "/".join(parts).casefold()
        if key in seen:
            raise UploadError(HTTPStatus.BAD_REQUEST, f"{name}: two entries named {info.filename!r}")
        seen.add(key)
        if _bomb_like(info.file_size, info.compress_size):
            raise UploadError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"{name}: entry {info.filename!r} would unpack to {info.file_size} bytes from {info.compress_size} "
                f"(over {MAX_COMPRESSION_RATIO} times); refused as a possible zip bomb",
            )
        planned.append((info, parts))
    if not planned:
        raise UploadError(HTTPStatus.UNPROCESSABLE_ENTITY, f"{name}: the zip holds no files; {_WHAT_TO_GIVE}")
    if len(planned) > limits.max_files:
        raise UploadError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"{name}: holds {len(planned)} files; at most {limits.max_files}"
        )
    declared = sum(i.file_size for i, _ in planned)
    if declared > limits.max_unzipped_bytes:
        raise UploadError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"{name}: would unpack to {declared} bytes; at most {limits.max_unzipped_bytes}",
        )
    packed = sum(i.compress_size for i, _ in planned)
    if _bomb_like(declared, packed):
        raise UploadError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"{name}: would unpack to {declared} bytes from {packed} (over {MAX_COMPRESSION_RATIO} times); "
            "refused as a possible zip bomb",
        )
    return planned


def _bomb_like(unpacked: int, packed: int) -> bool:
    """Whether ``unpacked`` bytes from ``packed`` is an absurd ratio for anything but a zip bomb."""
    return unpacked > RATIO_CHECK_MIN_BYTES and unpacked > MAX_COMPRESSION_RATIO * max(packed, 1)


def _member_parts(info: zipfile.ZipInfo, name: str) -> list[str]:
    """The entry's path components, refusing any that could land outside the destination."""
    raw = info.orig_filename
    if "\x00" in raw:
        raise UploadError(HTTPStatus.BAD_REQUEST, f"{name}: an entry's name holds a NUL character")
    text = raw.replace("\\", "/")
    if text.startswith("/") or _DRIVE.match(text):
        raise UploadError(
            HTTPStatus.BAD_REQUEST, f"{name}: entry {raw!r} has an absolute path; the zip must hold relative paths"
        )
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UploadError(HTTPStatus.BAD_REQUEST, f"{name}: entry {raw!r} escapes the zip's folder ('..')")
    if len(parts) > MAX_ZIP_DEPTH or any(len(p.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES for p in parts):
        shown = raw[:MAX_SHOWN_NAME_CHARS]
        raise UploadError(HTTPStatus.BAD_REQUEST, f"{name}: entry {shown!r}... has too deep or too long a path")
    return parts


def _discover(input_dir: Path, upload_name: str, deidentifier: Deidentifier | None) -> tuple[list[Study], list[str]]:
    """Discovery on the input folder, its errors worded with paths inside the upload (or their pseudonyms)."""
    studies: list[Study] = []
    errors: list[str] = []
    for item in discover([str(input_dir)]):
        if isinstance(item, Study):
            studies.append(item)
            continue
        text = describe_input_error(item, input_dir, upload_name)
        if deidentifier is not None:
            where = text.partition(": ")[0]
            text = deidentifier.text(text, [where, upload_name])
        errors.append(text)
    return studies, errors


def describe_input_error(error: InputError, root: Path, upload_name: str) -> str:
    """``error``'s message with paths under ``root`` shown relative to it (the server's folders stay private)."""
    prefix = str(root)
    rel = os.path.relpath(error.path, prefix) if _within(error.path, prefix) else error.path
    where = upload_name if rel in (".", "") else rel
    problem = error.problem.replace(prefix + os.sep, "").replace(prefix, upload_name)
    return f"{where}: {problem}"


def _errors_text(errors: list[str]) -> str:
    shown = "; ".join(errors[:MAX_QUOTED_ERRORS])
    more = len(errors) - MAX_QUOTED_ERRORS
    return shown + (f"; and {more} more" if more > 0 else "")


def _within(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([os.path.abspath(path), os.path.abspath(root)]) == os.path.abspath(root)
    except ValueError:
        return False


def _stem(filename: str) -> str:
    """A safe file stem from the client's file name, without the endings the sniffed kind puts back."""
    base = re.split(r"[\\/]", filename)[-1]
    lower = base.lower()
    for ending in _KNOWN_ENDINGS:
        if lower.endswith(ending) and len(base) > len(ending):
            return safe_name(base[: -len(ending)])
    return safe_name(base) if base else "upload"


def _quoted(filename: str) -> str:
    """The client's file name as shown in messages (its last component, printable, at most 100 characters)."""
    base = re.split(r"[\\/]", filename)[-1] or "the upload"
    shown = "".join(c if c.isprintable() else "?" for c in base)
    if len(shown) <= MAX_SHOWN_NAME_CHARS:
        return shown
    return shown[: MAX_SHOWN_NAME_CHARS - 3] + "..."


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (new names, renames) durable; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_tree(path: Path) -> None:
    """Remove a folder and everything in it, ignoring what is already gone."""
    shutil.rmtree(path, ignore_errors=True)
