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

    def grid(self, slices: Sequence[SliceInput]) -> list[tuple[SquareCrop, FloatImage]]:
        """Each slice's crop and its lung probability on the model's grid (``side x side``, 0..1)."""
        spec = self.model.checkpoint.input
        window = self.settings.window
        crops = [spec.crop_for(p.shape, None) for p, _ in slices]
        images = [preprocess_slice(p, k, window, c) for (p, k), c in zip(slices, crops, strict=True)]
        probs = _run_batched(self.model, images, self.settings.batch_size, flip=False)
        return list(zip(crops, probs, strict=True))

    def expand(self, shape: tuple[int, int], crop: SquareCrop, prob: FloatImage) -> LungResult:
        """The lung mask and box of a slice of ``shape`` from its model-grid probability ``prob``."""
        full = crop.paste(prob, shape)
        mask = lung_mask_from_probability(
            full,
            self.settings.lung_threshold,
            self.settings.min_lung_component_fraction,
            self.settings.scaled_to(shape).min_lung_area_px,
        )
        return LungResult(mask, lung_box_of(mask))

    def __call__(self, slices: Sequence[SliceInput]) -> list[LungResult]:
        """Lung masks and boxes of ``slices``, in their own pixels (each slice on its own, in 2-D)."""
        return [self.expand(p.shape, c, prob) for (p, _), (c, prob) in zip(slices, self.grid(slices), strict=True)]


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

    def __call__(
        self,
        slices: Sequence[SliceInput],
        lung_boxes: Sequence[Box | None],
        turned: Sequence[bool] | None = None,
    ) -> list[FloatImage | None]:
        """Lesion probability in each slice's own pixels (0 outside the crop); None for slices with no lung.

        Args:
            slices: the slices and what their pixels are.
            lung_boxes: each slice's lung box, or None (no lung: not analysed).
            turned: slices stored turned a quarter (lungs one above the other): the model sees them transposed,
                as it was trained, and their probability is transposed back.
        """
        turned = turned if turned is not None else [False] * len(slices)
        todo = [i for i, b in enumerate(lung_boxes) if b is not None]
        pixels = {i: slices[i][0].T if turned[i] else slices[i][0] for i in todo}
        boxes = {i: _transposed(b) if turned[i] else b for i in todo if (b := lung_boxes[i]) is not None}
        crops = {i: self.crop(pixels[i].shape, boxes[i]) for i in todo}
        window = self.settings.window
        images = [preprocess_slice(pixels[i], slices[i][1], window, crops[i]) for i in todo]
        probs = _run_batched(self.model, images, self.settings.batch_size, self.settings.flip_tta)
        out: list[FloatImage | None] = [None] * len(slices)
        for i, prob in zip(todo, probs, strict=True):
            full = crops[i].paste(prob, pixels[i].shape)
            out[i] = np.ascontiguousarray(full.T) if turned[i] else full
        return out


def _transposed(box: Box) -> Box:
    return (box[1], box[0], box[3], box[2])


def _central_dip(mask: BoolMask, axis: int) -> float:
    """How deep the mask's profile along one image axis dips in its central half: the profile's lowest value
    there over its highest (0: a gap, such as the mediastinum between the lungs; 1: no dip)."""
    profile = mask.sum(axis=axis).astype(np.float64)
    filled = np.nonzero(profile)[0]
    if filled.size < 4:
        return 1.0
    profile = profile[filled[0] : filled[-1] + 1]
    quarter = profile.size // 4
    return float(profile[quarter : profile.size - quarter].min() / profile.max())


def is_turned(lung_mask: BoolMask, margin: float) -> bool:
    """Whether an image seems stored turned a quarter: its lungs lie one above the other.

    In display orientation the mediastinum parts the lungs left from right, so the lung mask's column
    profile dips in the middle; turned a quarter, its row profile does. Turned when the row profile's dip is
    deeper than the column profile's by more than ``margin``.
    """
    if not lung_mask.any():
        return False
    return _central_dip(lung_mask, axis=1) + margin < _central_dip(lung_mask, axis=0)
