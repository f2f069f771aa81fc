"""Wall time spent in each stage of an analysis, for results.json and the speed benchmark."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

#: The stages, in pipeline order: waiting for slices to be read and decoded, the two models with their
#: pre- and post-processing, the lesion post-processing, and the result sink (overlays, masks, report).
STAGES = ("read", "lung", "lesion", "postprocess", "write")


class Timings:
    """Accumulates wall seconds per stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block and add it to ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def reset(self) -> None:
        """Back to zero."""
        self.seconds = dict.fromkeys(STAGES, 0.0)

    def to_dict(self) -> dict[str, float]:
        """Seconds per stage, rounded to milliseconds."""
        return {k: round(v, 3) for k, v in self.seconds.items()}
