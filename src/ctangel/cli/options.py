"""The analysis options, defined once for ``ctangel analyze`` and ``ctangel serve``.

Each option's flag is its :class:`~ctangel.inference.AnalysisSettings` field with dashes
(``--lesion-threshold`` sets ``lesion_threshold``); the short names older scripts used (``--threshold``,
``--min-area``, ``--patient-slices``, ``--patient-area``) still work. :func:`analysis_options` adds them all to
a command, which receives them as one :class:`AnalysisOptions`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final

import typer

from ctangel.constants import (
    DEFAULT_MAX_IMAGE_PIXELS,
    LESION_LUNG_MARGIN_MM,
    LESION_PROBABILITY_THRESHOLD,
    LUNG_WINDOW_LEVEL_HU,
    LUNG_WINDOW_WIDTH_HU,
    MIN_LESION_AREA_PX_AT_512,
    PATIENT_MIN_POSITIVE_SLICES,
    PATIENT_MIN_TOTAL_LESION_AREA_PX_AT_512,
)
from ctangel.models.registry import DEFAULT_MODELS
from ctangel.models.runtime import Backend

_ANALYSIS: Final = "analysis"
_OPTIONS: Final[list[tuple[str, Any, Any]]] = [
    (
        "lung_model",
        Annotated[str, typer.Option("--lung-model", help="lung model: registry name or checkpoint path")],
        DEFAULT_MODELS["lung"],
    ),
    (
        "lesion_model",
        Annotated[str, typer.Option("--lesion-model", help="lesion model: registry name or checkpoint path")],
        DEFAULT_MODELS["lesion"],
    ),
    (
        "window_width",
        Annotated[float, typer.Option("--window-width", help="HU window width for DICOM/NIfTI")],
        LUNG_WINDOW_WIDTH_HU,
    ),
    (
        "window_level",
        Annotated[float, typer.Option("--window-level", help="HU window level for DICOM/NIfTI")],
        LUNG_WINDOW_LEVEL_HU,
    ),
    (
        "lesion_threshold",
        Annotated[float, typer.Option("--lesion-threshold", "--threshold", help="lesion probability cut-off")],
        LESION_PROBABILITY_THRESHOLD,
    ),
    (
        "min_lesion_area_px_at_512",
        Annotated[
            float,
            typer.Option(
                "--min-lesion-area-px-at-512", "--min-area", help="a lesion must hold more pixels than this, at 512x512"
            ),
        ],
        float(MIN_LESION_AREA_PX_AT_512),
    ),
    (
        "patient_min_positive_slices",
        Annotated[
            int,
            typer.Option(
                "--patient-min-positive-slices", "--patient-slices", help="patient rule: positive slices needed"
            ),
        ],
        PATIENT_MIN_POSITIVE_SLICES,
    ),
    (
        "patient_min_lesion_area_px_at_512",
        Annotated[
            float,
            typer.Option(
                "--patient-min-lesion-area-px-at-512",
                "--patient-area",
                help="patient rule: lesion px at 512x512 needed in all",
            ),
        ],
        float(PATIENT_MIN_TOTAL_LESION_AREA_PX_AT_512),
    ),
    ("backend", Annotated[Backend, typer.Option("--backend", help="inference engine")], "onnx"),
    (
        "threads",
        Annotated[int | None, typer.Option("--threads", help="threads per model (default: all cores)")],
        None,
    ),
    (
        "flip_tta",
        Annotated[bool, typer.Option("--flip-tta", help="average with the mirrored slice (slower, steadier)")],
        False,
    ),
    (
        "lung_3d",
        Annotated[bool, typer.Option("--lung-3d/--no-lung-3d", help="one lung mask per series, consistent in 3-D")],
        True,
    ),
    (
        "lesion_lung_margin_mm",
        Annotated[
            float,
            typer.Option(
                "--lesion-lung-margin-mm",
                help="a lesion counts when it touches the lung grown by this (0: CT-Angel's box rule)",
            ),
        ],
        LESION_LUNG_MARGIN_MM,
    ),
    (
        "auto_orient",
        Annotated[
            bool, typer.Option("--auto-orient/--no-auto-orient", help="analyse 8-bit images turned a quarter upright")
        ],
        True,
    ),
]
_INPUT_OPTIONS: Final[list[tuple[str, Any, Any]]] = [
    (
        "max_image_pixels",
        Annotated[
            int,
            typer.Option(
                "--max-image-pixels",
                help="largest image any reader opens, rows x cols (also $CTANGEL_MAX_IMAGE_PIXELS)",
                min=1,
            ),
        ],
        DEFAULT_MAX_IMAGE_PIXELS,
    ),
    (
        "deidentify",
        Annotated[
            bool,
            typer.Option(
                "--deidentify",
                help="replace patient identifiers (ids, paths, file names) in every output with a keyed hash "
                "(key: $CTANGEL_DEIDENTIFY_KEY, else a key file made once)",
            ),
        ],
        False,
    ),
]
#: The settings fields the options set.
SETTINGS_FIELDS: Final = tuple(name for name, _, _ in _OPTIONS)


@dataclass(frozen=True)
class AnalysisOptions:
    """What the shared options gave.

    Args:
        settings: keyword arguments for :class:`~ctangel.inference.AnalysisSettings`.
        max_image_pixels: the pixel cap for every reader.
        deidentify: whether outputs get pseudonyms instead of patient identifiers.
    """

    settings: dict[str, Any]
    max_image_pixels: int
    deidentify: bool


def analysis_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` (which takes ``analysis: AnalysisOptions``) the shared options as keyword flags."""
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != _ANALYSIS]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, annotation, default in (*_OPTIONS, *_INPUT_OPTIONS)
    ]

    def with_options(**kwargs: Any) -> None:
        settings = {name: kwargs.pop(name) for name in SETTINGS_FIELDS}
        options = AnalysisOptions(settings, kwargs.pop("max_image_pixels"), kwargs.pop("deidentify"))
        command(**kwargs, **{_ANALYSIS: options})

    with_options.__name__ = command.__name__
    with_options.__doc__ = command.__doc__
    with_options.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
    with_options.__annotations__ = {p.name: p.annotation for p in [*own, *added]}
    return with_options
