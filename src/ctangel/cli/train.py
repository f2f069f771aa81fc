"""``ctangel train {lung,lesion,all}``: train a UNet++ on a folder in CT-Angel's layout."""

from __future__ import annotations

import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from ctangel.errors import ConfigError


class TrainTask(StrEnum):
    """What to train."""

    lung = "lung"
    lesion = "lesion"
    all = "all"


def _load_config(path: Path | None, task: str) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        with open(path, "rb") as f:
            table = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the training configuration ({exc})") from exc
    return dict(table.get(task, {}))


def train_command(
    task: Annotated[TrainTask, typer.Argument(help="lung, lesion, or all (lung, then lesion on its boxes)")],
    data: Annotated[
        Path | None, typer.Option(help="folder with train_images/, train_labels/, val_images/, val_labels/")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="weight file to write (.pt; its ONNX export goes beside it)")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML file with [lung] and [lesion] tables")] = None,
    max_steps: Annotated[int | None, typer.Option(help="most optimiser steps")] = None,
    batch_size: Annotated[int | None, typer.Option(help="samples per step (per process under torchrun)")] = None,
    seed: Annotated[int | None, typer.Option(help="the run's seed")] = None,
    lung_model: Annotated[str | None, typer.Option(help="lesion task: lung model giving the crops")] = None,
    threads: Annotated[int | None, typer.Option(help="torch threads")] = None,
    resume: Annotated[bool, typer.Option(help="continue from the run folder's last.ckpt")] = False,
) -> None:
    """Train the lung or lesion UNet++ (deep supervision, Dice + cross-entropy, early stopping)."""
    from ctangel.training.loop import TrainConfig, train

    tasks = ["lung", "lesion"] if task is TrainTask.all else [task.value]
    for name in tasks:
        d = _load_config(config, name)
        overrides = {
            "data": data,
            "out": out,
            "max_steps": max_steps,
            "batch_size": batch_size,
            "seed": seed,
            "threads": threads,
            "lung_model": lung_model if name == "lesion" else None,
        }
        d.update({k: v for k, v in overrides.items() if v is not None})
        d["task"] = name
        d["resume"] = resume
        for required in ("data", "out"):
            if required not in d:
                raise ConfigError(f"train {name}: --{required} is needed (or a [{name}] table in --config)")
        ckpt = train(TrainConfig.from_dict(d))
        typer.echo(f"{name}: wrote {d['out']} (validation {ckpt.meta.get('validation')})")
