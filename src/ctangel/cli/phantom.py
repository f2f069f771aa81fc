"""``ctangel phantom``: write the synthetic chest CT phantom as a DICOM series, with its ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ctangel.synthetic.options import DEFAULT_SLICES, Compression


def phantom_command(
    out: Annotated[Path, typer.Option(help="folder to write: OUT/series/IM*.dcm and OUT/truth/ (masks, CSV, JSON)")],
    slices: Annotated[int, typer.Option(help="slice count; the slices always cover 320 mm (64 gives 5 mm)")] = (
        DEFAULT_SLICES
    ),
    seed: Annotated[int, typer.Option(help="seed: the same seed and slice count give identical files")] = 0,
    compression: Annotated[Compression, typer.Option(help="transfer syntax of the DICOM files (all lossless)")] = (
        Compression.none
    ),
) -> None:
    """Generate a synthetic chest CT with COVID-19-like lesions at known places (no download needed)."""
    from ctangel.synthetic.dicom_writer import write_phantom
    from ctangel.synthetic.phantom import make_phantom

    files = write_phantom(make_phantom(slices, seed), out, compression)
    typer.echo(f"phantom: {len(files.dicom_files)} slices in {files.series_dir}, ground truth in {files.truth_dir}")
