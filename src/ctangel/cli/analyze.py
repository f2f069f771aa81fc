"""``ctangel analyze INPUT... --out DIR``: the whole pipeline on any CT input, with a report."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ctangel.cli.options import AnalysisOptions, analysis_options


class RegionChoice(StrEnum):
    """How the lungs are cut for the per-region figures and the severity score."""

    lobes = "lobes"
    zones = "zones"


class OverlayChoice(StrEnum):
    """Which slices get an overlay image."""

    positive = "positive"
    all = "all"
    none = "none"


@analysis_options
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
    *,
    analysis: AnalysisOptions,
) -> None:
    """Find the lung region and the lesions of every slice; call each image, study and patient; write a report."""
    from tqdm import tqdm

    from ctangel.inference import AnalysisSettings, Pipeline
    from ctangel.io import discover
    from ctangel.io.deidentify import Deidentifier, cli_key_folder, load_or_create_key
    from ctangel.io.limits import set_max_image_pixels
    from ctangel.report import OutputWriter

    settings = AnalysisSettings(**analysis.settings)
    set_max_image_pixels(analysis.max_image_pixels)
    if analysis.deidentify and (dicom_seg or scheduler is not None or workers is not None):
        raise typer.BadParameter("--deidentify does not cover --dicom-seg or cluster runs yet; leave one out")
    deidentifier = Deidentifier(load_or_create_key(cli_key_folder())) if analysis.deidentify else None
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

    found = discover(inputs)
    try:
        result = pipeline.analyze_studies(
            deidentifier.apply(found) if deidentifier else found, sink=writer, progress=bar.update, on_total=set_total
        )
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
