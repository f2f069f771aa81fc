"""The two stages: the lung (valid region) and the lesions, each a model run on batches of slices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ctangel._types import BoolMask, Box, FloatImage, PixelKind
from ctangel.inference.postprocess import lung_box_of, lung_mask_from_probability
from ctangel.inference.settings import AnalysisSettings
from ctangel.models.registry import LoadedModel
from ctangel.preprocessing import SquareCrop, preprocess_slice

#: A slice as the stages take it: its pixels and what they mean.
SliceInput = tuple[npt.NDArray[np.floating] | npt.NDArray[np.integer], PixelKind]


@dataclass(frozen=True)
class LungResult:
    """The lung stage's answer for one slice.

    Args:
        mask: lung mask, input pixels.
        box: the smallest box holding the mask (the valid region before its margin), or None: no lung.
    """

    mask: BoolMask
    box: Box | None


def _run_batched(model: LoadedModel, images: list[FloatImage], batch_size: int, flip: bool) -> list[FloatImage]:
    out: list[FloatImage] = []
    for i in range(0, len(images), batch_size):
        batch = np.stack(images[i : i + batch_size])
        prob = model.runner(batch)
        if flip:
            prob = (prob + model.runner(np.ascontiguousarray(batch[:, :, ::-1]))[:, :, ::-1]) / np.float32(2)
        out.extend(prob)
    return out


class LungStage:
    """Finds the lung fields of each slice and their box.

    Args:
        model: a lung model.
        settings: thresholds and batch size.
    """

    def __init__(self, model: LoadedModel, settings: AnalysisSettings) -> None:
        self.model = model
        self.settings = settings

    def __call__(self, slices: Sequence[SliceInput]) -> list[LungResult]:
        """Lung masks and boxes of ``slices``, in their own pixels."""
        spec = self.model.checkpoint.input
        window = self.settings.window
        crops = [spec.crop_for(p.shape, None) for p, _ in slices]
        images = [preprocess_slice(p, k, window, c) for (p, k), c in zip(slices, crops, strict=True)]
        probs = _run_batched(self.model, images, self.settings.batch_size, flip=False)
        results = []
        for (pixels, _), crop, prob in zip(slices, crops, probs, strict=True):
            shape: tuple[int, int] = pixels.shape
            full = crop.paste(prob, shape)
            mask = lung_mask_from_probability(
                full,
                self.settings.lung_threshold,
                self.settings.min_lung_component_fraction,
                self.settings.scaled_to(shape).min_lung_area_px,
            )
            results.append(LungResult(mask, lung_box_of(mask)))
        return results


class LesionStage:
    """Lesion probability maps of slices that have lung, computed on the lung crop.

    Args:
        model: a lesion model.
        settings: the window, batch size and test-time flip.
    """

    def __init__(self, model: LoadedModel, settings: AnalysisSettings) -> None:
        self.model = model
        self.settings = settings

    def crop(self, shape: tuple[int, int], lung_box: Box | None) -> SquareCrop:
        """The region of a slice the lesion model sees."""
        return self.model.checkpoint.input.crop_for(shape, lung_box)

    def __call__(self, slices: Sequence[SliceInput], lung_boxes: Sequence[Box | None]) -> list[FloatImage | None]:
        """Lesion probability in each slice's own pixels (0 outside the crop); None for slices with no lung."""
        todo = [i for i, b in enumerate(lung_boxes) if b is not None]
        crops = {i: self.crop(slices[i][0].shape, lung_boxes[i]) for i in todo}
        window = self.settings.window
        images = [preprocess_slice(slices[i][0], slices[i][1], window, crops[i]) for i in todo]
        probs = _run_batched(self.model, images, self.settings.batch_size, self.settings.flip_tta)
        out: list[FloatImage | None] = [None] * len(slices)
        for i, prob in zip(todo, probs, strict=True):
            out[i] = crops[i].paste(prob, slices[i][0].shape)
        return out
