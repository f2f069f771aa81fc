"""The phantom's choices, in a module light enough for the CLI to import at start-up."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

#: Slices of the default phantom: 64 slices of 5 mm, quick enough for ``make demo``.
DEFAULT_SLICES: Final = 64


class Compression(StrEnum):
    """Transfer syntax of the written files."""

    none = "none"
    rle = "rle"
    jpeg2000 = "jpeg2000"
