"""Per-slice boolean masks kept as packed bits: one bit per pixel, nothing at all for an empty slice."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ctangel._types import BoolMask


@dataclass(frozen=True)
class _Packed:
    shape: tuple[int, int]
    bits: npt.NDArray[np.uint8]
    count: int


class PackedMasks:
    """A study's masks, one per slice index, at 1/8 of a byte per pixel (a 512x512 slice: 32 KiB).

    Slices may differ in size (a folder of images); an empty mask costs only its shape.
    """

    def __init__(self) -> None:
        self._items: dict[int, _Packed] = {}

    def put(self, index: int, mask: BoolMask) -> None:
        """Keep ``mask`` (2-D, any orientation the caller keeps to) as slice ``index``."""
        shape = (int(mask.shape[0]), int(mask.shape[1]))
        count = int(np.count_nonzero(mask))
        bits = np.packbits(mask, axis=None) if count else np.zeros(0, dtype=np.uint8)
        self._items[index] = _Packed(shape, bits, count)

    def get(self, index: int) -> BoolMask:
        """Slice ``index``'s mask; raises KeyError when it was never put."""
        item = self._items[index]
        size = item.shape[0] * item.shape[1]
        if item.count == 0:
            return np.zeros(item.shape, dtype=bool)
        return np.unpackbits(item.bits, count=size).astype(bool).reshape(item.shape)

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
        """Bytes held by the packed bits."""
        return sum(item.bits.nbytes for item in self._items.values())
