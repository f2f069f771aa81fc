"""The browser viewer's slice images, written by the worker as the pipeline finds each slice.

For study ``n`` of a job (in the order analysed) and its slice ``k`` (head to feet for volumes)::

    slices/<n>/<k>.png          the slice in the analysis window (the lung window for HU), display orientation
    slices/<n>/<k>.lesion.png   the same with the lesion boxes and contours drawn, for slices that have lesion

Both are drawn once, as the slice passes the pipeline, so serving one is reading a file and memory holds a
single slice whatever the study's length. Each study's entry in results.json gets
``outputs.viewer = {"study": n, "slices": count}``, which is how the viewer finds its images.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

from PIL import Image

from ctangel.preprocessing import Window, to_unit_range
from ctangel.report._draw import to_uint8
from ctangel.report.overlay import draw_overlay

if TYPE_CHECKING:
    from ctangel.errors import InputError
    from ctangel.inference.pipeline import ResultSink, SliceFindings
    from ctangel.inference.results import AnalysisResult, SliceResult, StudyResult
    from ctangel.io.study import SlicePixels, Study

#: The key a study's ``outputs`` gets in results.json.
VIEWER_KEY: Final = "viewer"
GREY_SUFFIX: Final = ".png"
LESION_SUFFIX: Final = ".lesion.png"
#: zlib level of the PNGs: fast to write, a little larger than the default 6.
PNG_COMPRESS_LEVEL: Final = 3


def slice_image(folder: Path, study: int, index: int, overlay: bool) -> Path | None:
    """The image to show for slice ``index`` of study ``study`` under a job's ``slices`` folder, or None.

    With ``overlay``, a slice without lesion shows its plain image (there is nothing to draw on it).
    """
    base = folder / str(study)
    if overlay:
        lesion = base / f"{index}{LESION_SUFFIX}"
        if lesion.is_file():
            return lesion
    grey = base / f"{index}{GREY_SUFFIX}"
    return grey if grey.is_file() else None


class SliceImageWriter:
    """A :class:`~ctangel.inference.ResultSink` that writes the viewer's images of every slice.

    Args:
        folder: the job's ``slices`` folder (created).
        window: the HU window HU slices are drawn in (the analysis window).
    """

    def __init__(self, folder: Path, window: Window) -> None:
        self.folder = Path(folder)
        self.window = window
        self._numbers: dict[int, int] = {}
        self._count = 0

    def start_study(self, study: Study) -> None:
        """Number the study and make its folder."""
        self._numbers[id(study)] = self._count
        (self.folder / str(self._count)).mkdir(parents=True, exist_ok=True)
        self._count += 1

    def add_slice(self, study: Study, result: SliceResult, pixels: SlicePixels, findings: SliceFindings) -> None:
        """Write the slice's plain image and, when it has lesion, the one with its boxes and contours."""
        number = self._numbers.get(id(study))
        if number is None:
            self.start_study(study)
            number = self._numbers[id(study)]
        folder = self.folder / str(number)
        grey = to_uint8(to_unit_range(pixels, study.kind, self.window))
        Image.fromarray(grey, mode="L").save(folder / f"{result.index}{GREY_SUFFIX}", compress_level=PNG_COMPRESS_LEVEL)
        if findings.lesions or findings.lesion_mask.any():
            rows, cols = grey.shape
            drawn = draw_overlay(grey, [les.box for les in findings.lesions], lesion_mask=findings.lesion_mask)
            drawn.crop((0, 0, cols, rows)).save(
                folder / f"{result.index}{LESION_SUFFIX}", compress_level=PNG_COMPRESS_LEVEL
            )

    def finish_study(self, study: Study, result: StudyResult) -> None:
        """Record where the viewer finds the study's images (``outputs.viewer`` in results.json)."""
        number = self._numbers.pop(id(study), None)
        if number is not None:
            result.outputs[VIEWER_KEY] = {"study": number, "slices": len(result.slices)}

    def fail_input(self, error: InputError) -> None:
        """Nothing to do: a failed study's images stay but are not listed."""

    def finish(self, result: AnalysisResult) -> None:
        """Nothing to do: every image is written as its slice passes."""


class TeeSink:
    """Passes the pipeline's output to several sinks, in the order given.

    Args:
        sinks: the sinks; a later one sees what an earlier one did (e.g. ``result.outputs``).
    """

    def __init__(self, *sinks: ResultSink) -> None:
        self.sinks = sinks

    def start_study(self, study: Study) -> None:
        """Forward."""
        for s in self.sinks:
            s.start_study(study)

    def add_slice(self, study: Study, result: SliceResult, pixels: SlicePixels, findings: SliceFindings) -> None:
        """Forward."""
        for s in self.sinks:
            s.add_slice(study, result, pixels, findings)

    def finish_study(self, study: Study, result: StudyResult) -> None:
        """Forward."""
        for s in self.sinks:
            s.finish_study(study, result)

    def fail_input(self, error: InputError) -> None:
        """Forward."""
        for s in self.sinks:
            s.fail_input(error)

    def finish(self, result: AnalysisResult) -> None:
        """Forward."""
        for s in self.sinks:
            s.finish(result)
