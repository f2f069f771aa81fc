"""Per-slice data of a series kept on disk between the pipeline's two passes, so that a series' length
costs disk, not memory: the lung grid (:class:`GridFile`) and the decoded slices (:class:`SliceFile`: a
compressed series is decoded once, not once per pass)."""

from __future__ import annotations

import tempfile
from typing import cast

import numpy as np
import numpy.typing as npt

from ctangel.io.study import SlicePixels


class GridFile:
    """A series' per-slice grids ``(side, side)`` of uint8 in an unnamed temporary file: appended a slice at a
    time, read and rewritten a slab at a time, so the series' length costs disk, not memory.

    Args:
        side: the grid's side.
        folder: where the file lives (default: the system's temporary folder).
    """

    def __init__(self, side: int, folder: str | None = None) -> None:
        self.side = side
        self._file = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 (open for the series; closed by close())
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def append(self, grid: npt.NDArray[np.uint8]) -> None:
        """Add the next slice's grid."""
        self._file.seek(self._count * self.side * self.side)
        self._file.write(np.ascontiguousarray(grid, dtype=np.uint8).tobytes())
        self._count += 1

    def read(self, slab: slice) -> npt.NDArray[np.uint8]:
        """Slices ``slab`` (steps of 1), ``(n, side, side)``."""
        start, stop, _ = slab.indices(self._count)
        cell = self.side * self.side
        self._file.seek(start * cell)
        data = self._file.read(max(stop - start, 0) * cell)
        return np.frombuffer(data, dtype=np.uint8).reshape(-1, self.side, self.side).copy()

    def write(self, slab: slice, grids: npt.NDArray[np.uint8]) -> None:
        """Replace slices ``slab`` (steps of 1)."""
        start, _, _ = slab.indices(self._count)
        self._file.seek(start * self.side * self.side)
        self._file.write(np.ascontiguousarray(grids, dtype=np.uint8).tobytes())

    def close(self) -> None:
        """Delete the file."""
        self._file.close()


class SliceFile:
    """Decoded slices in an unnamed temporary file: written once, read back one at a time by index. A float
    slice whose values are all whole numbers in int16's range (HU of most CT) is stored as int16.

    Args:
        folder: where the file lives (default: the system's temporary folder).
    """

    def __init__(self, folder: str | None = None) -> None:
        self._file = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 (open for the series; closed by close())
        self._end = 0
        self._where: dict[int, tuple[int, tuple[int, ...], np.dtype[np.generic], np.dtype[np.generic]]] = {}

    def __contains__(self, index: object) -> bool:
        return index in self._where

    def put(self, index: int, pixels: SlicePixels) -> None:
        """Keep slice ``index``."""
        data: npt.NDArray[np.generic] = np.ascontiguousarray(pixels)
        if data.dtype.kind == "f" and data.size:
            small = data.astype(np.int16)
            if np.array_equal(small, data):
                data = small
        stored: np.dtype[np.generic] = data.dtype
        self._file.seek(self._end)
        self._file.write(data.tobytes())
        self._where[index] = (self._end, pixels.shape, stored, pixels.dtype)
        self._end += data.nbytes

    def get(self, index: int) -> SlicePixels:
        """Slice ``index`` as it was put (same shape and dtype)."""
        offset, shape, stored, dtype = self._where[index]
        self._file.seek(offset)
        raw = self._file.read(int(np.prod(shape)) * stored.itemsize)
        return cast(SlicePixels, np.frombuffer(raw, dtype=stored).reshape(shape).astype(dtype))

    def close(self) -> None:
        """Delete the file."""
        self._file.close()
