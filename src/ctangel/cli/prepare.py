"""``ctangel prepare``: the public data in ../shared/data as training folders in CT-Angel's layout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def prepare_command(
    shared_data: Annotated[
        Path | None,
        typer.Option(help="the shared data folder (default $CTANGEL_SHARED_DATA or ../shared/data)"),
    ] = None,
    out: Annotated[Path, typer.Option(help="where to write lung/ and lesion/ (never commit it)")] = Path(
        "build/datasets"
    ),
    write_ucsd_split: Annotated[bool, typer.Option(help="(re)write the committed UCSD patient split first")] = False,
) -> None:
    """Write the lung and lesion training folders (train_/val_/test_ images and labels) from the public data."""
    from ctangel.training import sources

    data = shared_data or sources.default_shared_data()
    if write_ucsd_split:
        typer.echo(f"wrote {sources.write_ucsd_split(data)}")
    counts = sources.prepare_all(data, out)
    for task, per_split in counts.items():
        typer.echo(f"{out / task}: " + ", ".join(f"{k} {v}" for k, v in sorted(per_split.items())))
