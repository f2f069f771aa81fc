"""``ctangel analyze INPUT... --out DIR``: the whole pipeline on any CT input, with a report."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ctangel.constants import (
    LESION_PROBABILITY_THRESHOLD,
    LUNG_WINDOW_LEVEL_HU,
    LUNG_WINDOW_WIDTH_HU,
    MIN_LESION_AREA_PX_AT_512,
    PATIENT_MIN_POSITIVE_SLICES,
    PATIENT_MIN_TOTAL_LESION_AREA_PX_AT_512,
)
from ctangel.models.registry import DEFAULT_MODELS


class BackendChoice(StrEnum):
    """Inference engines."""

    onnx = "onnx"
    torch = "torch"


class RegionChoice(StrEnum):
    """How the lungs are cut for the per-region figures and the severity score."""

    lobes = "lobes"
    zones = "zones"


class OverlayChoice(StrEnum):
    """Which slices get an overlay image."""

    positive = "positive"
    all = "all"
    none = "none"


def analyze_command(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="DICOM folders or files, NIfTI volumes, PNG/JPG slices or folders of them, folder trees"),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder (results.json, report.html, overlays)")],
    labels: Annotated[
        Path | None,
        typer.Option(help="folder of label images (white = lesion), same file stems as the slices"),
    ] = None,
    masks: Annotated[
        bool, typer.Option("--masks", help="write lesion masks (NIfTI for volumes, PNG for images)")
    ] = False,
    overlays: Annotated[OverlayChoice, typer.Option(help="slices that get an overlay image")] = OverlayChoice.positive,
    lung_model: Annotated[str, typer.Option(help="lung model: registry name or checkpoint path")] = DEFAULT_MODELS[
        "lung"
    ],
    lesion_model: Annotated[str, typer.Option(help="lesion model: registry name or checkpoint path")] = DEFAULT_MODELS[
        "lesion"
    ],
    window_width: Annotated[float, typer.Option(help="HU window width for DICOM/NIfTI")] = LUNG_WINDOW_WIDTH_HU,
    window_level: Annotated[float, typer.Option(help="HU window level for DICOM/NIfTI")] = LUNG_WINDOW_LEVEL_HU,
    threshold: Annotated[float, typer.Option(help="lesion probability cut-off")] = LESION_PROBABILITY_THRESHOLD,
    min_area: Annotated[float, typer.Option(help="a lesion must hold more pixels than this, at 512x512")] = float(
        MIN_LESION_AREA_PX_AT_512
    ),
    patient_slices: Annotated[
        int, typer.Option(help="patient rule: positive slices needed")
    ] = PATIENT_MIN_POSITIVE_SLICES,
    patient_area: Annotated[float, typer.Option(help="patient rule: lesion px at 512x512 needed in all")] = float(
        PATIENT_MIN_TOTAL_LESION_AREA_PX_AT_512
    ),
    backend: Annotated[BackendChoice, typer.Option(help="inference engine")] = BackendChoice.onnx,
    threads: Annotated[int | None, typer.Option(help="threads per model (default: all cores)")] = None,
    flip_tta: Annotated[bool, typer.Option(help="average with the mirrored slice (slower, steadier)")] = False,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler (tcp://HOST:8786): one task per study, resumable")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="start a local Dask cluster of N worker processes: one task per study")
    ] = None,
    regions: Annotated[
        RegionChoice,
        typer.Option(help="per-region figures and severity score: lobes (estimated from lung shape) or zones"),
    ] = RegionChoice.lobes,
    dicom_seg: Annotated[
        bool, typer.Option("--dicom-seg", help="write a DICOM SEG per DICOM series (lesion, lungs per lobe/zone)")
    ] = False,
) -> None:
    """Find the lung region and the lesions of every slice; call each image, study and patient; write a report."""
    from tqdm import tqdm

    from ctangel.inference import AnalysisSettings, Pipeline
    from ctangel.report import OutputWriter

    settings = AnalysisSettings(
        lung_model=lung_model,
        lesion_model=lesion_model,
        window_width=window_width,
        window_level=window_level,
        lesion_threshold=threshold,
        min_lesion_area_px_at_512=min_area,
        patient_min_positive_slices=patient_slices,
        patient_min_lesion_area_px_at_512=patient_area,
        backend=backend.value,
        threads=threads,
        flip_tta=flip_tta,
    )
    if scheduler is not None or workers is not None:
        from ctangel.cli.cluster import analyze_on_cluster_command
        from ctangel.distributed import OutputOptions

        output = OutputOptions(labels=labels, write_masks=masks, overlays=overlays.value)
        analyze_on_cluster_command(inputs, out, settings, output, scheduler, workers)
        return
    pipeline = Pipeline(settings)
    writer = OutputWriter(
        out,
        settings.window,
        labels=labels,
        write_masks=masks,
        overlays=overlays.value,
        regions=regions.value,
        dicom_seg=dicom_seg,
    )
    bar = tqdm(total=0, unit="slice", desc="analyse", file=sys.stderr, dynamic_ncols=True)

    def set_total(n: int) -> None:
        bar.total = n
        bar.refresh()

    try:
        result = pipeline.analyze(inputs, sink=writer, progress=bar.update, on_total=set_total)
    finally:
        bar.close()
    for patient in result.patients:
        n = sum(len(s.slices) for s in patient.studies)
        pos = sum(s.n_positive_slices for s in patient.studies)
        verdict = "POSITIVE" if patient.positive else "negative"
        typer.echo(f"{patient.patient_id}: {verdict} ({pos}/{n} slices positive)")
    typer.echo(f"report: {writer.report_path}")
    typer.echo(f"results: {writer.results_path}")
    typer.echo(f"summary: {writer.summary_path}")
    if result.errors:
        for err in result.errors:
            typer.echo(f"error: {err['input']}: {err['error']}", err=True)
        raise typer.Exit(code=1)
