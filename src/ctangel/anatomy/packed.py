"""Per-slice boolean masks kept as packed bits: one bit per pixel, nothing at all for an empty slice; in
memory, or in a temporary file so that a study of any length costs memory only for an index."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt

from ctangel._types import BoolMask
from ctangel.errors import OutputError


@dataclass(frozen=True, slots=True)
class _Packed:
    shape: tuple[int, int]
    count: int
    nbytes: int
    offset: int = 0
    bits: npt.NDArray[np.uint8] | None = None


class PackedMasks:
    """A study's masks, one per slice index, at 1/8 of a byte per pixel (a 512x512 slice: 32 KiB).

    Slices may differ in size (a folder of images); an empty mask costs only its shape.

    Args:
        spill_dir: keep the bits in an unnamed temporary file in this folder (made at the first mask with a
            pixel set; gone when closed, or when the process ends) and read a mask back when asked for, so
            that memory holds a few dozen bytes per slice; None keeps them in memory.
    """

    def __init__(self, spill_dir: Path | None = None) -> None:
        self._items: dict[int, _Packed] = {}
        self._dir = spill_dir
        self._file: IO[bytes] | None = None
        self._end = 0

    def put(self, index: int, mask: BoolMask) -> None:
        """Keep ``mask`` (2-D, any orientation the caller keeps to) as slice ``index``.

        Raises:
            OutputError: the temporary file cannot be made or written (a full disk, no permission).
        """
        shape = (int(mask.shape[0]), int(mask.shape[1]))
        count = int(np.count_nonzero(mask))
        if count == 0:
            self._items[index] = _Packed(shape, 0, 0)
            return
        bits = np.packbits(mask, axis=None)
        if self._dir is None:
            self._items[index] = _Packed(shape, count, bits.nbytes, bits=bits)
            return
        try:
            if self._file is None:
                # Unnamed: nothing is left behind, whatever happens to the process.
                self._file = tempfile.TemporaryFile(dir=self._dir, prefix=".ctangel-masks-")  # noqa: SIM115 (close())
            self._file.seek(self._end)
            self._file.write(bits.data)
        except OSError as exc:
            raise OutputError(
                f"{self._dir}: the study's masks cannot be kept in a temporary file there ({exc}); free disk space"
            ) from exc
        self._items[index] = _Packed(shape, count, bits.nbytes, offset=self._end)
        self._end += bits.nbytes

    def get(self, index: int) -> BoolMask:
        """Slice ``index``'s mask; raises KeyError when it was never put."""
        item = self._items[index]
        if item.count == 0:
            return np.zeros(item.shape, dtype=bool)
        bits = item.bits
        if bits is None:
            bits = self._read(item)
        size = item.shape[0] * item.shape[1]
        return np.unpackbits(bits, count=size).view(bool).reshape(item.shape)

    def shape(self, index: int) -> tuple[int, int]:
        """``(rows, cols)`` of slice ``index``."""
        return self._items[index].shape

    def count(self, index: int) -> int:
        """Foreground pixels of slice ``index`` (0 when never put)."""
        item = self._items.get(index)
        return 0 if item is None else item.count

    def indices(self) -> list[int]:
        """The slice indices put, in order."""
        return sorted(self._items)

    def __contains__(self, index: object) -> bool:
        return index in self._items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        """Bytes of packed bits kept (in memory, or in the temporary file)."""
        return sum(item.nbytes for item in self._items.values())

    @property
    def spilled(self) -> bool:
        """Whether the bits are kept in a temporary file."""
        return self._dir is not None

    def close(self) -> None:
        """Let the temporary file go (the masks can no longer be read); nothing to do in memory."""
        if self._file is not None:
            self._file.close()

    def _read(self, item: _Packed) -> npt.NDArray[np.uint8]:
        if self._file is None or self._file.closed:
            raise ValueError("the masks' temporary file is closed: close() came too early")
        try:
            self._file.seek(item.offset)
            data = self._file.read(item.nbytes)
        except OSError as exc:
            raise OutputError(f"{self._dir}: the masks' temporary file cannot be read ({exc})") from exc
        return np.frombuffer(data, dtype=np.uint8)
