"""The analysis settings, grouped in one typed object shared by the CLI, the service and the Python API."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, get_args

from ctangel.constants import (
    AIR_COMPONENT_MEDIAN_HU,
    DEFAULT_PIXEL_SPACING_MM_AT_512,
    INFERENCE_BATCH_SIZE,
    LESION_LUNG_MARGIN_MM,
    LESION_PROBABILITY_THRESHOLD,
    LUNG_PROBABILITY_THRESHOLD,
    LUNG_WINDOW_LEVEL_HU,
    LUNG_WINDOW_WIDTH_HU,
    MIN_LESION_AREA_PX_AT_512,
    MIN_LUNG_AREA_PX_AT_512,
    MIN_LUNG_COMPONENT_FRACTION,
    MIN_LUNG_VOLUME_FRACTION,
    MIN_SLICE_LUNG_FRACTION,
    PATIENT_MIN_POSITIVE_SLICES,
    PATIENT_MIN_TOTAL_LESION_AREA_PX_AT_512,
    REFERENCE_SIDE_PX,
    TURNED_DIP_MARGIN,
    VALID_REGION_MARGIN_PX_AT_512,
)
from ctangel.errors import ConfigError
from ctangel.models.registry import DEFAULT_MODELS
from ctangel.models.runtime import Backend
from ctangel.preprocessing import Window, reference_scale


@dataclass(frozen=True)
class ScaledThresholds:
    """Size thresholds in one slice's own pixels."""

    min_lesion_area_px: float
    min_lung_area_px: float
    valid_region_margin_px: float
    lesion_lung_margin_px: float


@dataclass(frozen=True)
class AnalysisSettings:
    """Every choice ``ctangel analyze`` makes; CT-Angel's values are the defaults.

    Args:
        lung_model: registry name or checkpoint path of the lung model.
        lesion_model: registry name or checkpoint path of the lesion model.
        window_width: HU window width for HU input (CT-Angel 1200).
        window_level: HU window level (CT-Angel -700).
        lesion_threshold: a pixel is lesion when its probability is over this (CT-Angel 0.5; ctangel 0.6 with the
            default lesion model, chosen on clinical validation data; 0.35 for the whole lesion-unetpp-v2).
        min_lesion_area_px_at_512: a lesion must hold more pixels than this, at 512x512 (CT-Angel 25).
        lung_threshold: a pixel is lung when its probability is over this.
        min_lung_component_fraction: lung components smaller than this share of the largest are dropped.
        min_lung_area_px_at_512: a slice has a valid region when its lung holds more pixels than this.
        valid_region_margin_px_at_512: the lung box is grown by this many pixels into the valid region.
        patient_min_positive_slices: patient rule, the positive slices needed (fewer when a study has fewer).
        patient_min_lesion_area_px_at_512: patient rule, the lesion area those slices must hold in all.
        backend: ``"onnx"`` (fast) or ``"torch"``.
        batch_size: slices per model call.
        threads: threads per model (None: all cores this process may use).
        flip_tta: average each lesion prediction with that of the mirrored slice.
        lung_3d: for volumes (HU series of several slices), one lung mask per series made consistent in 3-D:
            components not connected to the lungs and airways are dropped, and slices with too little lung
            have none.
        air_component_median_hu: volumes, lung-stage components whose median is under this are air, not lung.
        min_lung_volume_fraction: 3-D lung components smaller than this share of the largest are dropped.
        min_slice_lung_fraction: a slice whose lung is smaller than this share of the series' largest has none.
        auto_orient: 8-bit images stored turned a quarter (lungs one above the other, see
            :func:`ctangel.inference.stages.is_turned`) are analysed transposed, so the result does not depend on
            the turn.
        turned_dip_margin: how much deeper the lung mask's row profile must dip than its column profile.
        lesion_lung_margin_mm: a lesion counts only where it lies within this distance of the lung mask
            (0 or less: CT-Angel's rule, a lesion counts when its box centre lies in the valid region).
    """

    lung_model: str = DEFAULT_MODELS["lung"]
    lesion_model: str = DEFAULT_MODELS["lesion"]
    window_width: float = LUNG_WINDOW_WIDTH_HU
    window_level: float = LUNG_WINDOW_LEVEL_HU
    lesion_threshold: float = LESION_PROBABILITY_THRESHOLD
    min_lesion_area_px_at_512: float = MIN_LESION_AREA_PX_AT_512
    lung_threshold: float = LUNG_PROBABILITY_THRESHOLD
    min_lung_component_fraction: float = MIN_LUNG_COMPONENT_FRACTION
    min_lung_area_px_at_512: float = MIN_LUNG_AREA_PX_AT_512
    valid_region_margin_px_at_512: float = VALID_REGION_MARGIN_PX_AT_512
    patient_min_positive_slices: int = PATIENT_MIN_POSITIVE_SLICES
    patient_min_lesion_area_px_at_512: float = PATIENT_MIN_TOTAL_LESION_AREA_PX_AT_512
    backend: Backend = "onnx"
    batch_size: int = INFERENCE_BATCH_SIZE
    threads: int | None = None
    flip_tta: bool = False
    lung_3d: bool = True
    air_component_median_hu: float = AIR_COMPONENT_MEDIAN_HU
    min_lung_volume_fraction: float = MIN_LUNG_VOLUME_FRACTION
    min_slice_lung_fraction: float = MIN_SLICE_LUNG_FRACTION
    lesion_lung_margin_mm: float = LESION_LUNG_MARGIN_MM
    auto_orient: bool = True
    turned_dip_margin: float = TURNED_DIP_MARGIN

    def __post_init__(self) -> None:
        for name in ("lesion_threshold", "lung_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {value}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.patient_min_positive_slices < 1:
            raise ConfigError("patient_min_positive_slices must be at least 1")
        if self.backend not in get_args(Backend):
            raise ConfigError(f"backend must be one of {', '.join(get_args(Backend))}, got {self.backend!r}")
        Window(self.window_width, self.window_level)  # validates the width

    @property
    def window(self) -> Window:
        """The HU window."""
        return Window(self.window_width, self.window_level)

    def scaled_to(self, shape: tuple[int, int], pixel_spacing_mm: float | None = None) -> ScaledThresholds:
        """The size thresholds in the pixels of a slice of ``shape`` (those given at 512x512 scaled by area,
        the margin by length; millimetres by ``pixel_spacing_mm``, or a typical chest CT's when unknown)."""
        area = reference_scale(shape, REFERENCE_SIDE_PX)
        spacing = pixel_spacing_mm or DEFAULT_PIXEL_SPACING_MM_AT_512 / math.sqrt(area)
        return ScaledThresholds(
            min_lesion_area_px=self.min_lesion_area_px_at_512 * area,
            min_lung_area_px=self.min_lung_area_px_at_512 * area,
            valid_region_margin_px=self.valid_region_margin_px_at_512 * math.sqrt(area),
            lesion_lung_margin_px=self.lesion_lung_margin_mm / spacing,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for results.json."""
        return asdict(self)
