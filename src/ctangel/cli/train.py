"""``ctangel train STAGE``: train a UNet++ on a folder in CT-Angel's layout; ``ctangel pseudolabel``."""

from __future__ import annotations

import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from ctangel.errors import ConfigError

#: The stages of ``ctangel train all``, in order; each is a table of the configuration file.
STAGES = ("lung", "lesion", "finetune", "pseudo", "student")


class TrainStage(StrEnum):
    """What to train."""

    lung = "lung"
    lesion = "lesion"
    finetune = "finetune"
    student = "student"
    all = "all"


def _load_config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the training configuration ({exc})") from exc


def _run_training(name: str, table: dict[str, Any], overrides: dict[str, Any]) -> None:
    from ctangel.training.loop import TrainConfig, train

    d = dict(table)
    d.update({k: v for k, v in overrides.items() if v is not None})
    d.setdefault("task", "lesion" if name in ("finetune", "student") else name)
    for required in ("data", "out"):
        if required not in d:
            raise ConfigError(f"train {name}: --{required} is needed (or a [{name}] table in --config)")
    ckpt = train(TrainConfig.from_dict(d))
    typer.echo(f"{name}: wrote {d['out']} (validation {ckpt.meta.get('validation')})")


def _run_pseudo(table: dict[str, Any]) -> None:
    from ctangel.inference import AnalysisSettings, Pipeline
    from ctangel.training.pseudo import teacher_pipeline, write_pseudo_labels
    from ctangel.training.sources import default_shared_data

    try:
        settings = AnalysisSettings(lung_model=table["lung_model"], lesion_model=table["teacher"])
        lesion_data, out = Path(table["lesion_data"]), Path(table["out"])
    except KeyError as exc:
        raise ConfigError(f"pseudo: {exc.args[0]} is needed (lung_model, teacher, lesion_data, out)") from exc
    data = Path(table.get("shared_data") or default_shared_data())
    counts = write_pseudo_labels(
        data, lesion_data, out, teacher_pipeline(Pipeline(settings)), int(table.get("stride", 1))
    )
    typer.echo(f"pseudo: wrote {out} ({counts})")


def train_command(
    stage: Annotated[
        TrainStage,
        typer.Argument(
            help=(
                "lung, lesion, finetune (lesion from a checkpoint), student (lesion on pseudo-labels), "
                "or all stages of --config"
            )
        ),
    ],
    data: Annotated[
        Path | None, typer.Option(help="folder with train_images/, train_labels/, val_images/, val_labels/")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="weight file to write (.pt; its ONNX export goes beside it)")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML file with one table per stage (configs/train.toml)")] = None,
    max_steps: Annotated[int | None, typer.Option(help="most optimiser steps")] = None,
    batch_size: Annotated[int | None, typer.Option(help="samples per step (per process under torchrun)")] = None,
    seed: Annotated[int | None, typer.Option(help="the run's seed")] = None,
    lung_model: Annotated[str | None, typer.Option(help="lesion stages: lung model giving the crops")] = None,
    threads: Annotated[int | None, typer.Option(help="torch threads")] = None,
    resume: Annotated[bool, typer.Option(help="continue from the run folder's last.ckpt")] = False,
) -> None:
    """Train the lung or lesion UNet++ (deep supervision, Dice + cross-entropy, early stopping, resume).

    Runs data-parallel under torchrun (gloo on CPU, nccl on GPU): each process takes --batch-size samples.
    """
    tables = _load_config(config)
    overrides: dict[str, Any] = {
        "data": data,
        "out": out,
        "max_steps": max_steps,
        "batch_size": batch_size,
        "seed": seed,
        "threads": threads,
        "resume": resume or None,
    }
    if stage is TrainStage.all:
        if data is not None or out is not None:
            raise ConfigError("train all takes --data and --out from --config, one table per stage")
        if not tables:
            raise ConfigError("train all needs --config (see configs/train.toml)")
        for name in STAGES:
            if name == "pseudo" and name in tables:
                _run_pseudo(tables[name])
            elif name in tables:
                _run_training(name, tables[name], overrides)
        return
    overrides["lung_model"] = lung_model if stage is not TrainStage.lung else None
    _run_training(stage.value, tables.get(stage.value, {}), overrides)


def pseudolabel_command(
    teacher: Annotated[str, typer.Option(help="the teacher lesion model (checkpoint path or registry name)")],
    lesion_data: Annotated[Path, typer.Option(help="the teacher's training folder (linked into --out)")],
    out: Annotated[Path, typer.Option(help="the student's training folder to write")],
    lung_model: Annotated[str, typer.Option(help="lung model (checkpoint path or registry name)")] = "lung-unetpp-v1",
    shared_data: Annotated[Path | None, typer.Option(help="the shared data folder")] = None,
    stride: Annotated[int, typer.Option(help="pseudo-label every n-th slice of each volume")] = 1,
) -> None:
    """Pseudo-label Ma et al.'s unlabelled COVID slices with a teacher, for semi-supervised training."""
    table = {"teacher": teacher, "lesion_data": lesion_data, "out": out, "lung_model": lung_model, "stride": stride}
    if shared_data is not None:
        table["shared_data"] = shared_data
    _run_pseudo(table)


def snapshot_command(
    snapshot: Annotated[Path, typer.Argument(help="a training snapshot (work_dir/step-NNNNN.snapshot)")],
    like: Annotated[Path, typer.Option(help="a checkpoint of the same network (the run's output or init_from)")],
    out: Annotated[Path, typer.Option(help="the checkpoint to write (.pt; its ONNX export goes beside it)")],
    chosen_by: Annotated[str, typer.Option(help="how this snapshot was chosen, kept in the provenance")] = "",
) -> None:
    """Turn a snapshot kept by a run with `snapshots = true` into a checkpoint (to ship a step chosen on other
    validation data, such as bench/choose_checkpoint.py's clinical series)."""
    from ctangel.training.loop import checkpoint_from_snapshot

    ckpt = checkpoint_from_snapshot(snapshot, like, out, chosen_by)
    typer.echo(f"wrote {out} (step {ckpt.meta['snapshot_step']}) and {out.with_suffix('.onnx')}")
