"""The training loop: deep supervision, Dice + cross-entropy, validation, early stopping, resume, DDP.

A run is one call of :func:`train` with a :class:`TrainConfig`. It writes into ``config.work_dir``:
``last.ckpt`` (model, optimiser, step: what ``--resume`` reads), ``best.ckpt`` and ``log.jsonl``; at the end
it writes the best weights to ``config.out`` as a :class:`~ctangel.models.checkpoint.Checkpoint` and beside
it the ONNX export. Each step's batch and each sample's augmentation are drawn from generators seeded with
``(seed, step, sample)``, so a run is deterministic given its seed, also when it is resumed.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the run is data-parallel: each rank takes its share of the step's
global batch (``batch_size`` per rank, so the effective batch is their sum), gradients are averaged, and
rank 0 validates and writes.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from monai.losses import DiceCELoss
from tqdm import tqdm

from ctangel.errors import ConfigError
from ctangel.inference.settings import AnalysisSettings
from ctangel.inference.stages import LungStage
from ctangel.log import logger
from ctangel.models.checkpoint import Checkpoint, InputSpec, Task, load_checkpoint
from ctangel.models.network import NetworkConfig, build_network
from ctangel.models.registry import DEFAULT_MODELS, LoadedModel, load_model
from ctangel.models.runtime import TorchRunner, export_onnx
from ctangel.training.augment import AugmentConfig, augment_example
from ctangel.training.data import Example, load_examples
from ctangel.training.validate import validate_lesion, validate_lung


@dataclass
class TrainConfig:
    """One training run.

    Args:
        task: ``"lung"`` or ``"lesion"``.
        data: a folder in CT-Angel's layout (``train_images``, ``train_labels``, ``val_images``, ``val_labels``).
        out: the weight file to write.
        work_dir: checkpoints and the log (default: ``out``'s name + ``.run`` beside it).
        network: the UNet++'s constructor arguments.
        input: how the model sees a slice.
        augment: augmentation settings.
        batch_size: samples per step per process.
        max_steps: the most optimiser steps.
        lr: peak learning rate (AdamW), reached after ``warmup_steps`` and then decayed on a cosine.
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up steps.
        eval_every: steps between validations.
        patience: validations without improvement before stopping early.
        min_steps: no early stop before this step.
        seed: the run's seed.
        positive_fraction: for the lesion task, the share of each batch drawn from slices with lesions.
        deep_supervision_weights: loss weights of the nodes ``x_0_1 .. x_0_4``.
        lung_model: for the lesion task, the lung model whose boxes give the crops (name or checkpoint).
        init_from: start from this checkpoint's weights (same architecture) instead of a fresh network.
        source_weights: relative chance of drawing a slice, by its file name's prefix before ``__``
            (``{"medseg": 3.0}`` draws MedSeg's slices three times as often as others of the same kind).
        threads: torch threads (None: all cores).
        resume: continue from ``work_dir/last.ckpt`` when it exists.
        snapshots: keep the weights of every validation as ``work_dir/step-NNNNN.snapshot`` (to choose a
            checkpoint on other validation data afterwards, with ``ctangel train export-snapshot``).
    """

    task: Task
    data: Path
    out: Path
    work_dir: Path | None = None
    network: NetworkConfig = field(default_factory=NetworkConfig)
    input: InputSpec = field(default_factory=lambda: InputSpec(side=256, crop="lung_box", margin=0.08))
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    batch_size: int = 8
    max_steps: int = 2000
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    eval_every: int = 100
    patience: int = 8
    min_steps: int = 0
    seed: int = 0
    positive_fraction: float = 0.5
    deep_supervision_weights: tuple[float, float, float, float] = (0.25, 0.25, 0.25, 0.25)
    lung_model: str = DEFAULT_MODELS["lung"]
    init_from: Path | None = None
    source_weights: dict[str, float] = field(default_factory=dict)
    threads: int | None = None
    resume: bool = False
    snapshots: bool = False

    def __post_init__(self) -> None:
        self.data, self.out = Path(self.data), Path(self.out)
        if self.work_dir is None:
            self.work_dir = self.out.with_name(self.out.stem + ".run")
        self.work_dir = Path(self.work_dir)
        if self.init_from is not None:
            self.init_from = Path(self.init_from)
        if self.task not in ("lung", "lesion"):
            raise ConfigError(f"task must be 'lung' or 'lesion', got {self.task!r}")
        if self.batch_size < 1 or self.max_steps < 1 or self.eval_every < 1:
            raise ConfigError("batch_size, max_steps and eval_every must be at least 1")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a TOML table (nested ``network``, ``input`` and ``augment`` tables allowed)."""
        d = dict(d)
        try:
            if "network" in d:
                d["network"] = NetworkConfig.from_dict(d["network"])
            if "input" in d:
                d["input"] = InputSpec.from_dict(d["input"])
            if "augment" in d:
                aug: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in d["augment"].items()}
                d["augment"] = AugmentConfig(**aug)
            if "deep_supervision_weights" in d:
                d["deep_supervision_weights"] = tuple(d["deep_supervision_weights"])
            return cls(**d)
        except TypeError as exc:
            raise ConfigError(f"bad training configuration: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the checkpoint's provenance."""
        d = asdict(self)
        d["network"] = self.network.to_dict()
        for k in ("data", "out", "work_dir", "init_from"):
            d[k] = None if d[k] is None else str(d[k])
        return d


@dataclass
class _Dist:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed() -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return _Dist(dist.get_rank(), dist.get_world_size())


def _lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _sampling_weights(indices: list[int], examples: list[Example], cfg: TrainConfig) -> np.ndarray | None:
    """Probabilities of drawing each of ``indices``, from ``cfg.source_weights`` by file-name prefix."""
    if not cfg.source_weights:
        return None
    w = np.array([cfg.source_weights.get(examples[i].name.split("__", 1)[0], 1.0) for i in indices], dtype=float)
    return w / w.sum()


def draw_batch(step: int, examples: list[Example], cfg: TrainConfig, world: int) -> list[int]:
    """Indices of the step's global batch (``batch_size * world`` samples), the same on every rank.

    For the lesion task a binomial share ``positive_fraction`` of the batch comes from slices with lesions;
    within positives and negatives, ``source_weights`` (by the file name's prefix before ``__``) weigh the draw.
    """
    rng = np.random.default_rng([cfg.seed, step])
    n = cfg.batch_size * world
    if cfg.task == "lesion":
        pos = [i for i, e in enumerate(examples) if e.positive]
        neg = [i for i, e in enumerate(examples) if not e.positive]
        if pos and neg:
            n_pos = int(rng.binomial(n, cfg.positive_fraction))
            return list(rng.choice(pos, n_pos, p=_sampling_weights(pos, examples, cfg))) + list(
                rng.choice(neg, n - n_pos, p=_sampling_weights(neg, examples, cfg))
            )
    every = list(range(len(examples)))
    return list(rng.choice(len(examples), n, p=_sampling_weights(every, examples, cfg)))


def make_batch(
    step: int, indices: list[int], examples: list[Example], cfg: TrainConfig, offset: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(B, 1, S, S)`` and labels alike for the given global-batch positions."""
    images, labels = [], []
    for j, idx in enumerate(indices):
        rng = np.random.default_rng([cfg.seed, step, offset + j])
        img, lab = augment_example(examples[idx], cfg.input, cfg.augment, rng)
        images.append(img)
        labels.append(lab)
    x = torch.from_numpy(np.stack(images)[:, None].astype(np.float32))
    y = torch.from_numpy(np.stack(labels)[:, None].astype(np.float32))
    return x, y


def attach_lung_boxes(examples: list[Example], lung: LoadedModel, settings: AnalysisSettings) -> None:
    """Set each example's ``lung_box`` (and, for HU slices, ``lung``) to what the pipeline's lung stage finds."""
    results = LungStage(lung, settings)([(e.pixels, e.kind) for e in examples])
    for e, r in zip(examples, results, strict=True):
        e.lung_box = r.box
        if e.kind == "hu":
            e.lung = r.mask


def _live_model(net: torch.nn.Module, cfg: TrainConfig) -> LoadedModel:
    ckpt = Checkpoint(cfg.task, cfg.network, cfg.input, {}, {})
    return LoadedModel(name="training", sha256="", checkpoint=ckpt, runner=TorchRunner(net), backend="torch")


def _validate(net: torch.nn.Module, val: list[Example], cfg: TrainConfig) -> dict[str, float]:
    net.eval()
    try:
        model = _live_model(net, cfg)
        settings = AnalysisSettings(backend="torch")
        return validate_lung(model, val, settings) if cfg.task == "lung" else validate_lesion(model, val, settings)
    finally:
        net.train()


def _unwrap(net: torch.nn.Module) -> torch.nn.Module:
    return net.module if isinstance(net, torch.nn.parallel.DistributedDataParallel) else net


@dataclass
class _RunState:
    """Where a run stands: what ``last.ckpt`` holds besides the weights and the optimiser."""

    step: int = 0
    best_score: float = -math.inf
    best_step: int = -1
    evals_since_best: int = 0


def _load_data(cfg: TrainConfig, ddp: _Dist) -> tuple[list[Example], list[Example]]:
    """The train and val examples; for the lesion task with the lung boxes the pipeline's lung stage finds."""
    train_ex = load_examples(cfg.data, "train")
    val_ex = load_examples(cfg.data, "val")
    if cfg.task == "lesion":
        lung = load_model(cfg.lung_model, "lung", backend="onnx", threads=cfg.threads)
        settings = AnalysisSettings()
        attach_lung_boxes(train_ex, lung, settings)
        attach_lung_boxes(val_ex, lung, settings)
        # The lesion stage never sees a slice without lung: neither does its training.
        train_ex = [e for e in train_ex if e.lung_box is not None or e.positive]
    if ddp.main:
        logger.info(
            "training %s on %d slices (%d with foreground), validating on %d",
            cfg.task,
            len(train_ex),
            sum(e.positive for e in train_ex),
            len(val_ex),
        )
    return train_ex, val_ex


def _start(cfg: TrainConfig, ddp: _Dist, last_path: Path) -> tuple[torch.nn.Module, torch.optim.Optimizer, _RunState]:
    """The network (from ``init_from`` or fresh), its optimiser and the run state (from ``last.ckpt`` on resume)."""
    torch.manual_seed(cfg.seed)  # here, not earlier: loading the lung model may draw from the generator
    net: torch.nn.Module = build_network(cfg.network, deep_supervision=True)
    if cfg.init_from is not None:
        start = load_checkpoint(cfg.init_from)
        if start.network != cfg.network:
            raise ConfigError(f"{cfg.init_from}: its network {start.network} differs from the configured one")
        net.load_state_dict(start.state_dict)
    optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    run = _RunState()
    if cfg.resume and last_path.is_file():
        state = torch.load(last_path, map_location="cpu", weights_only=True)
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        run = _RunState(state["step"], state["best_score"], state["best_step"], state["evals_since_best"])
        if ddp.main:
            logger.info(
                "resumed from %s at step %d (best %.4f at step %d)", last_path, run.step, run.best_score, run.best_step
            )
    if ddp.world > 1:
        net = torch.nn.parallel.DistributedDataParallel(net)
    net.train()
    return net, optimizer, run


def _validate_and_save(
    net: torch.nn.Module, optimizer: torch.optim.Optimizer, val_ex: list[Example], cfg: TrainConfig, run: _RunState
) -> dict[str, float]:
    """Validate, keep the snapshot, ``best.ckpt`` when better and ``last.ckpt``; update ``run``; the figures."""
    assert cfg.work_dir is not None
    work = cfg.work_dir
    model = _unwrap(net)
    figures = _validate(model, val_ex, cfg)
    if cfg.snapshots:
        # each validated state kept, so that a later, external validation can choose among them
        torch.save(
            {"model": model.state_dict(), "step": run.step, "figures": figures}, work / f"step-{run.step:05d}.snapshot"
        )
    if figures["score"] > run.best_score:
        run.best_score, run.best_step, run.evals_since_best = figures["score"], run.step, 0
        torch.save({"model": model.state_dict(), "step": run.step, "figures": figures}, work / "best.ckpt")
    else:
        run.evals_since_best += 1
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": run.step,
            "best_score": run.best_score,
            "best_step": run.best_step,
            "evals_since_best": run.evals_since_best,
        },
        work / "last.ckpt",
    )
    return figures


def _write_checkpoint(
    net: torch.nn.Module, cfg: TrainConfig, ddp: _Dist, run: _RunState, n: dict[str, int], started: float
) -> Checkpoint:
    """``cfg.out`` (the best validation's weights, with the run's provenance) and its ONNX export."""
    assert cfg.work_dir is not None
    best_path = cfg.work_dir / "best.ckpt"
    best = torch.load(best_path, map_location="cpu", weights_only=True) if best_path.is_file() else None
    state_dict = best["model"] if best is not None else _unwrap(net).state_dict()
    meta = {
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": cfg.to_dict(),
        "steps": run.step,
        "best_step": run.best_step,
        "validation": best["figures"] if best is not None else {},
        **n,
        "world_size": ddp.world,
        "effective_batch_size": cfg.batch_size * ddp.world,
        "wall_time_s": round(time.time() - started, 1),
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores".strip(),
        "torch": str(torch.__version__),
    }
    ckpt = Checkpoint(cfg.task, cfg.network, cfg.input, state_dict, meta)
    sha = ckpt.save(cfg.out)
    export_onnx(ckpt, cfg.out.with_suffix(".onnx"), source_sha256=sha)
    logger.info("wrote %s (sha256 %s) and its ONNX export", cfg.out, sha)
    return ckpt


def train(cfg: TrainConfig) -> Checkpoint:
    """Run one training; return the checkpoint written to ``cfg.out`` (the best validation score's)."""
    ddp = _init_distributed()
    torch.set_flush_denormal(True)  # denormal floats made CPU training steps 10x slower
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    assert cfg.work_dir is not None
    work = cfg.work_dir
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    train_ex, val_ex = _load_data(cfg, ddp)
    net, optimizer, run = _start(cfg, ddp, work / "last.ckpt")
    loss_fn = DiceCELoss(sigmoid=True, batch=True, smooth_nr=1e-5, smooth_dr=1e-5)
    weights = torch.tensor(cfg.deep_supervision_weights, dtype=torch.float32)
    log = open(work / "log.jsonl", "a") if ddp.main else None  # noqa: SIM115 (closed after the loop)
    # Under DDP each rank records the samples it took, so the effective batch can be checked.
    rank_log = open(work / f"rank{ddp.rank}.jsonl", "a") if ddp.world > 1 else None  # noqa: SIM115
    bar = tqdm(
        total=cfg.max_steps,
        initial=run.step,
        desc=f"train {cfg.task}",
        disable=not ddp.main,
        file=sys.stderr,
        mininterval=1.0 if sys.stderr.isatty() else 60.0,
    )
    stop = False
    while run.step < cfg.max_steps and not stop:
        indices = draw_batch(run.step, train_ex, cfg, ddp.world)
        mine = indices[ddp.rank * cfg.batch_size : (ddp.rank + 1) * cfg.batch_size]
        if rank_log is not None:
            rank_log.write(json.dumps({"step": run.step, "indices": [int(i) for i in mine]}) + "\n")
        x, y = make_batch(run.step, mine, train_ex, cfg, offset=ddp.rank * cfg.batch_size)
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(run.step, cfg)
        outputs = net(x)
        loss = sum(w * loss_fn(o, y) for w, o in zip(weights, outputs, strict=True)) / weights.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        run.step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        if run.step % cfg.eval_every == 0 or run.step == cfg.max_steps:
            flag = torch.zeros(1)
            if ddp.main:
                figures = _validate_and_save(net, optimizer, val_ex, cfg, run)
                record = {"step": run.step, "loss": loss.item(), "lr": _lr_at(run.step - 1, cfg)}
                record.update({"elapsed_s": time.time() - started, **figures})
                assert log is not None
                log.write(json.dumps(record) + "\n")
                log.flush()
                logger.info("step %d: %s", run.step, " ".join(f"{k}={v:.4f}" for k, v in figures.items()))
                if run.evals_since_best >= cfg.patience and run.step >= cfg.min_steps:
                    logger.info("no improvement in %d validations: stopping at step %d", cfg.patience, run.step)
                    flag[0] = 1
            if ddp.world > 1:
                dist.broadcast(flag, src=0)
            stop = bool(flag[0])
    bar.close()
    for f in (log, rank_log):
        if f is not None:
            f.close()
    if ddp.world > 1:
        torch.save(_unwrap(net).state_dict(), work / f"rank{ddp.rank}-final.pt")
    if not ddp.main:
        dist.barrier()
        dist.destroy_process_group()
        return Checkpoint(cfg.task, cfg.network, cfg.input, _unwrap(net).state_dict(), {})
    n = {
        "train_slices": len(train_ex),
        "train_positive_slices": sum(e.positive for e in train_ex),
        "val_slices": len(val_ex),
    }
    ckpt = _write_checkpoint(net, cfg, ddp, run, n, started)
    if ddp.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return ckpt


def checkpoint_from_snapshot(
    snapshot: str | Path, like: str | Path, out: str | Path, chosen_by: str = ""
) -> Checkpoint:
    """Turn a run's snapshot (``step-NNNNN.snapshot``, see ``TrainConfig.snapshots``) into a checkpoint.

    Args:
        snapshot: the snapshot file.
        like: a checkpoint of the same network and input (the run's output, or its ``init_from``); its
            provenance is kept and told which step was taken.
        out: the checkpoint to write (its ONNX export goes beside it).
        chosen_by: how the snapshot was chosen, recorded in the provenance.

    Raises:
        WeightsError: ``like`` is not a checkpoint.
        ConfigError: the snapshot cannot be read.
    """
    base = load_checkpoint(like)
    try:
        snap = torch.load(Path(snapshot), map_location="cpu", weights_only=True)
        state_dict, step = snap["model"], int(snap["step"])
    except (OSError, KeyError, RuntimeError) as exc:
        raise ConfigError(f"{snapshot}: not a training snapshot ({exc})") from exc
    meta = dict(base.meta)
    meta.update({"snapshot_step": step, "validation": snap.get("figures", {}), "snapshot_chosen_by": chosen_by})
    ckpt = Checkpoint(base.task, base.network, base.input, state_dict, meta)
    sha = ckpt.save(out)
    export_onnx(ckpt, Path(out).with_suffix(".onnx"), source_sha256=sha)
    return ckpt
