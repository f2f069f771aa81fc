"""Hostile inputs for the property tests: valid seeds (DICOM, NIfTI, PNG, JPEG, zip) and hypothesis strategies
that mutate them, structurally (header fields, tags, transfer syntaxes, zip entries) and byte by byte.

The property every reader must keep: given any bytes, it returns a result or raises one
:class:`~ctangel.errors.InputError` naming the file, never another exception, and the process stays under a
memory bound. The upload path keeps the same with :class:`~ctangel.service.intake.UploadError` (a 4xx).

``CTANGEL_FUZZ_EXAMPLES`` sets the examples per reader (the short run in the test suite uses a few dozen;
``make fuzz`` runs 10,000); ``CTANGEL_FUZZ_COUNTS`` names a JSON file the counts are added to.
"""

from __future__ import annotations

import atexit
import gzip
import io
import json
import os
import resource
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import nibabel as nib
import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from PIL import Image
from pydicom.dataset import FileDataset
from pydicom.uid import (
    UID,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    RLELossless,
)

from ctangel.errors import InputError
from ctangel.io import Study, discover
from ctangel.synthetic.ct_dicom import ct_slice_dataset, dataset_bytes

#: Examples per reader: a few dozen in the normal suite (seconds), 10,000 in ``make fuzz``.
EXAMPLES: Final = int(os.environ.get("CTANGEL_FUZZ_EXAMPLES", "40"))
#: Where the counts of a run are added (``make fuzz`` writes them to bench/results/fuzz.md).
COUNTS_FILE: Final = os.environ.get("CTANGEL_FUZZ_COUNTS")
#: Cases between two writes of the counts file.
COUNTS_FLUSH_EVERY: Final = 50
#: The process's peak memory must stay under this (the test process itself holds a few hundred MB).
MAX_RSS_BYTES: Final = 3 * 1024**3
#: Slices read from one fuzzed study (a header may claim thousands).
MAX_SLICES_READ: Final = 8
#: Integers that break length, size and count fields.
NASTY_INTS: Final = (0, 1, 2, 7, 8, 255, 256, 32767, 32768, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1)

FUZZ_SETTINGS: Final = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=EXAMPLES <= 100,  # the short run is the same every time; the long run explores
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    database=None,
)

_counts: dict[str, int] = {}


def count(reader: str) -> None:
    """One more case run for ``reader``; added to :data:`COUNTS_FILE` (when set) every
    :data:`COUNTS_FLUSH_EVERY` cases, so that a run stopped at its time budget still reports what it ran."""
    _counts[reader] = _counts.get(reader, 0) + 1
    if COUNTS_FILE and sum(_counts.values()) >= COUNTS_FLUSH_EVERY:
        save_counts()


def save_counts() -> None:
    """Add this process's counts to :data:`COUNTS_FILE` (when set)."""
    if not COUNTS_FILE:
        return
    path = Path(COUNTS_FILE)
    old = json.loads(path.read_text()) if path.is_file() else {}
    for reader, n in _counts.items():
        old[reader] = old.get(reader, 0) + n
    old["peak_rss_bytes"] = max(old.get("peak_rss_bytes", 0), peak_rss_bytes())
    path.write_text(json.dumps(old, indent=2, sort_keys=True))
    _counts.clear()


if COUNTS_FILE:
    atexit.register(lambda: save_counts())  # a run stopped at its time budget still reports what it ran


def peak_rss_bytes() -> int:
    """The process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# --- seeds ------------------------------------------------------------------------------------------


def dicom_dataset(rows: int = 12, cols: int = 10) -> FileDataset:
    """A small valid CT slice (fixed UIDs: hypothesis needs the same seed every time)."""
    pixels = (np.arange(rows * cols, dtype=np.uint16) % 4096).reshape(rows, cols)
    return ct_slice_dataset(
        pixels,
        sop_uid="1.2.3.4.5",
        study_uid="1.2.3",
        series_uid="1.2.3.4",
        patient_id="FUZZ",
        pixel_spacing=(0.7, 0.7),
    )


def dicom_bytes(ds: FileDataset) -> bytes:
    return dataset_bytes(ds)


def nifti_bytes(shape: tuple[int, ...] = (10, 8, 3), dtype: Any = np.int16) -> bytes:
    data = (np.arange(int(np.prod(shape))) % 2000 - 1000).astype(dtype).reshape(shape)
    return nib.Nifti1Image(data, np.diag([0.8, 0.8, 2.5, 1.0])).to_bytes()


def image_bytes(fmt: str, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    if mode == "I;16":
        Image.fromarray(rng.integers(0, 4000, (16, 12), dtype=np.uint16)).save(buf, format=fmt)
    else:
        Image.fromarray(rng.integers(0, 255, (16, 12), dtype=np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


def zip_of(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


DICOM_SEED: Final = dicom_bytes(dicom_dataset())
NIFTI_SEED: Final = nifti_bytes()
PNG_SEED: Final = image_bytes("PNG")
PNG16_SEED: Final = image_bytes("PNG", "I;16")
JPEG_SEED: Final = image_bytes("JPEG")


# --- strategies ---------------------------------------------------------------------------------------


@st.composite
def mutated_bytes(draw: st.DrawFn, seed: bytes, max_edits: int = 6) -> bytes:
    """``seed`` with a few edits: bits flipped, bytes set, nasty integers written (lengths, sizes), slices
    inserted, deleted or duplicated, the end cut off."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, max_edits))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "byte", "int16", "int32", "insert", "delete", "repeat", "truncate"]))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte":
            data[pos] = draw(st.integers(0, 255))
        elif op in ("int16", "int32"):
            fmt = draw(st.sampled_from(["<", ">"])) + ("H" if op == "int16" else "I")
            value = draw(st.sampled_from(NASTY_INTS)) & (0xFFFF if op == "int16" else 0xFFFFFFFF)
            packed = struct.pack(fmt, value)
            data[pos : pos + len(packed)] = packed
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "repeat":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 256))]
        else:
            del data[pos:]
    return bytes(data)


_SYNTAXES: Final = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    ExplicitVRBigEndian,
    DeflatedExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEG2000Lossless,
    RLELossless,
    "1.2.3.4.5.6",  # unknown
)
_DICOM_FIELDS: Final[dict[str, st.SearchStrategy[Any]]] = {
    "Rows": st.sampled_from(NASTY_INTS[:12]),
    "Columns": st.sampled_from(NASTY_INTS[:12]),
    "BitsAllocated": st.sampled_from([0, 1, 8, 12, 16, 32, 64]),
    "BitsStored": st.sampled_from([0, 1, 8, 12, 16, 17, 32]),
    "HighBit": st.sampled_from([0, 7, 11, 15, 31]),
    "PixelRepresentation": st.sampled_from([0, 1, 2]),
    "SamplesPerPixel": st.sampled_from([0, 1, 3, 4]),
    "NumberOfFrames": st.sampled_from([0, 1, 2, 1000]),
    "RescaleSlope": st.sampled_from([0.0, -1.0, 1e30, float("nan"), float("inf")]),
    "RescaleIntercept": st.sampled_from([0.0, -1e30, float("nan"), float("-inf")]),
    "PixelSpacing": st.sampled_from([[0.0, 0.0], [-1.0, 1.0], [float("nan"), 1.0], [1.0]]),
    "ImageOrientationPatient": st.sampled_from([[0.0] * 6, [1.0, 0.0, 0.0, 1.0, 0.0, 0.0], [float("nan")] * 6]),
    "ImagePositionPatient": st.sampled_from([[float("inf"), 0.0, 0.0], [0.0, 0.0]]),
    "PhotometricInterpretation": st.sampled_from(["MONOCHROME1", "RGB", "PALETTE COLOR", "YBR_FULL", ""]),
    "SOPClassUID": st.sampled_from([CTImageStorage, "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.4"]),
}
_DELETABLE: Final = (
    "Rows",
    "Columns",
    "BitsAllocated",
    "PixelData",
    "SOPClassUID",
    "SeriesInstanceUID",
    "ImagePositionPatient",
    "PixelSpacing",
    "PhotometricInterpretation",
)


@st.composite
def mutated_dicom(draw: st.DrawFn) -> bytes:
    """A CT slice with header fields set to nasty values, elements deleted, the pixel data resized or made
    float, the transfer syntax changed without re-encoding, then byte edits."""
    ds = dicom_dataset(draw(st.integers(1, 24)), draw(st.integers(1, 24)))
    for keyword in draw(st.lists(st.sampled_from(sorted(_DICOM_FIELDS)), max_size=4, unique=True)):
        setattr(ds, keyword, draw(_DICOM_FIELDS[keyword]))
    for keyword in draw(st.lists(st.sampled_from(_DELETABLE), max_size=2, unique=True)):
        if keyword in ds:
            delattr(ds, keyword)
    pixels = draw(st.sampled_from(["keep", "short", "long", "float", "empty"]))
    if "PixelData" in ds and pixels != "keep":
        raw = bytes(ds.PixelData)
        if pixels == "float":
            del ds.PixelData
            ds.FloatPixelData = np.frombuffer(raw[: len(raw) // 4 * 4], np.float32).tobytes()
        else:
            ds.PixelData = {"short": raw[: len(raw) // 3], "long": raw * 3, "empty": b""}[pixels]
    ds.file_meta.TransferSyntaxUID = UID(draw(st.sampled_from(_SYNTAXES)))
    try:
        data = dicom_bytes(ds)
    except Exception:  # pydicom refuses to write some combinations: the seed's bytes are mutated instead
        data = DICOM_SEED
    return draw(mutated_bytes(data, max_edits=3)) if draw(st.booleans()) else data


@st.composite
def mutated_nifti(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A NIfTI-1 volume with nasty header fields (dims, datatype, offsets, scaling, spacing), then byte edits;
    and whether to gzip it."""
    image = nib.Nifti1Image.from_bytes(NIFTI_SEED)
    header = image.header
    raw = bytearray(image.to_bytes())
    fields: dict[str, Any] = {}
    if draw(st.booleans()):
        fields["dim"] = [draw(st.integers(0, 8))] + [draw(st.sampled_from([0, 1, 3, 8, 32767, -1])) for _ in range(7)]
    if draw(st.booleans()):
        fields["datatype"] = draw(st.sampled_from([0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 2304, 9999]))
    if draw(st.booleans()):
        fields["vox_offset"] = draw(st.sampled_from([0.0, 1.0, 352.0, 1e9, -5.0, float("nan")]))
    if draw(st.booleans()):
        fields["scl_slope"] = draw(st.sampled_from([0.0, float("nan"), float("inf"), -1e38]))
    if draw(st.booleans()):
        fields["pixdim"] = [1.0] + [draw(st.sampled_from([0.0, -1.0, 1e-30, float("nan"), 1e30])) for _ in range(7)]
    if draw(st.booleans()):
        fields["sform_code"] = draw(st.sampled_from([0, 1, 2, 99]))
        fields["srow_x"] = [float("nan"), 0.0, 0.0, 0.0]
    for name, value in fields.items():
        arr = header.structarr
        field = np.asarray(arr[name])
        try:
            packed = np.asarray(value, dtype=field.dtype)
        except (ValueError, OverflowError):
            continue
        offset = header.structarr.dtype.fields[name][1]
        raw[offset : offset + packed.nbytes] = packed.tobytes()
    data = bytes(raw)
    if draw(st.booleans()):
        data = draw(mutated_bytes(data, max_edits=3))
    return data, draw(st.booleans())


def mutated_image(seed: bytes) -> st.SearchStrategy[bytes]:
    """Byte edits of an image (headers, chunk lengths, sizes, compressed data)."""
    return mutated_bytes(seed, max_edits=6)


_ENTRY_NAMES: Final = st.sampled_from(
    [
        "series/IM1.dcm",
        "series/IM2",
        "a/../../evil.dcm",
        "/abs.dcm",
        "C:\\win.dcm",
        "dup.dcm",
        "DUP.dcm",
        "deep/" * 40 + "x.dcm",
        "x" * 300,
        "vol.nii",
        "img.png",
        "nul\x00.dcm",
        "dir/",
        "",
    ]
)


@st.composite
def hostile_zip(draw: st.DrawFn) -> bytes:
    """A zip of valid and mutated entries under nasty names, then, sometimes, byte edits of the archive."""
    entries = []
    for _ in range(draw(st.integers(0, 5))):
        name = draw(_ENTRY_NAMES)
        content = draw(
            st.sampled_from([DICOM_SEED, NIFTI_SEED, PNG_SEED, JPEG_SEED, b"", b"text"])
            | mutated_bytes(DICOM_SEED, max_edits=2)
        )
        entries.append((name, content))
    try:
        data = zip_of(entries)
    except Exception:  # zipfile refuses to write some names (empty ones): a plain zip instead
        data = zip_of([("series/IM1.dcm", DICOM_SEED)])
    return draw(mutated_bytes(data, max_edits=3)) if draw(st.booleans()) else data


# --- the property --------------------------------------------------------------------------------------


def check_reader(path: Path, reader: str) -> None:
    """Discovery and reading of ``path`` give studies and :class:`InputError`s naming it, nothing else."""
    count(reader)
    name = str(path)
    for item in discover([name]):
        if isinstance(item, InputError):
            assert_names(item, name)
            continue
        assert isinstance(item, Study), type(item)
        for index in range(min(len(item), MAX_SLICES_READ)):
            try:
                pixels = item.read(index)
            except InputError as exc:
                assert_names(exc, name)
                break
            assert pixels.ndim == 2 and pixels.size > 0
            assert pixels.dtype == np.uint8 or bool(np.isfinite(pixels).all())
    assert peak_rss_bytes() < MAX_RSS_BYTES, f"peak memory {peak_rss_bytes()} bytes"


def assert_names(error: InputError, name: str) -> None:
    assert error.path.startswith(name.split("#")[0]), (error.path, name)
    assert error.problem and "\n" not in error.problem, error.problem


def write(folder: Path, filename: str, data: bytes, compress: bool = False) -> Path:
    path = folder / filename
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path


Check = Callable[[Path, str], None]
