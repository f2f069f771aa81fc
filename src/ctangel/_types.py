"""Type aliases shared across the package."""

from __future__ import annotations

from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

#: A box ``(x0, y0, x1, y1)`` in pixel-edge coordinates of an image: pixel ``(col, row)`` covers
#: ``[col, col + 1) x [row, row + 1)``, so a box holding pixels 3..5 of a row has ``x0 = 3, x1 = 6``.
Box: TypeAlias = tuple[float, float, float, float]
#: A 2-D float32 image.
FloatImage: TypeAlias = npt.NDArray[np.float32]
#: A 2-D boolean mask.
BoolMask: TypeAlias = npt.NDArray[np.bool_]
#: What a slice's stored values mean: Hounsfield units, or an already windowed 8-bit grey image.
PixelKind: TypeAlias = Literal["hu", "uint8"]
