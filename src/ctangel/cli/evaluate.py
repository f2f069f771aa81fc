"""``ctangel evaluate RESULTS_JSON --truth LABELS_OR_CSV --out DIR``: CT-Angel's accuracy table for a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def evaluate_command(
    results: Annotated[
        Path,
        typer.Argument(metavar="RESULTS_JSON", help="the results.json of `ctangel analyze` (or its output folder)"),
    ],
    truth: Annotated[
        Path,
        typer.Option(
            "--truth",
            "-t",
            help="a folder of label images (white = lesion, same file stems as the slices) "
            "or a CSV with columns source,label[,patient]",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder (metrics.json, metrics.md, roc.png)")],
) -> None:
    """Score the image and patient calls (sensitivity, specificity, accuracy, PPV, NPV, AUC) and, with label
    images and `analyze --masks`, the lesion masks (Dice, IoU)."""
    from ctangel.metrics.evaluate import evaluate

    report = evaluate(results, truth, out)
    typer.echo(report.tables_markdown())
    typer.echo("")
    typer.echo(f"slices matched: {report.n_matched} of {report.n_slices}; patients scored: {len(report.patients)}")
    for note in report.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"metrics: {report.metrics_json_path}")
    typer.echo(f"table: {report.metrics_md_path}")
    typer.echo(f"roc: {report.roc_png_path}")
