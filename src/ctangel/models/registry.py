"""The one table of shipped models: name -> task, weight files and their sha256.

The CLI's ``--lung-model`` / ``--lesion-model`` choices, the service and results.json all read this table.
A path to a checkpoint trained with ``ctangel train`` may stand wherever a name does.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final

from ctangel.errors import WeightsError
from ctangel.log import logger
from ctangel.models.checkpoint import Checkpoint, Task, load_checkpoint, sha256_file
from ctangel.models.network import FULL_LEVEL
from ctangel.models.runtime import Backend, OnnxRunner, Runner, TorchRunner, export_onnx


@dataclass(frozen=True)
class ModelEntry:
    """A shipped model.

    Args:
        name: registry name.
        task: ``"lung"`` or ``"lesion"``.
        checkpoint: file name under ``ctangel/models/weights``.
        sha256: the checkpoint's sha256.
        onnx: the exported ONNX file's name under ``ctangel/models/weights``.
        onnx_sha256: its sha256.
        summary: one line for ``--help`` and reports.
        head: the UNet++ node inference stops at (4: the whole network; see
            :class:`~ctangel.models.network.NetworkConfig`); several entries may share one checkpoint.
    """

    name: str
    task: Task
    checkpoint: str
    sha256: str
    onnx: str
    onnx_sha256: str
    summary: str
    head: int = FULL_LEVEL


MODELS: Final[dict[str, ModelEntry]] = {
    e.name: e
    for e in (
        ModelEntry(
            name="lung-unetpp-v1",
            task="lung",
            checkpoint="lung-unetpp-v1.pt",
            sha256="a15f1c75b14ecdf1fb01b8f85b92678ea57d54f6abc551cafc7d967464389a62",
            onnx="lung-unetpp-v1.onnx",
            onnx_sha256="354bdabbbb6bbeff23391cd751640f3947115cb2c3c74e11914bc95db38fffeb",
            summary="UNet++ lung fields, whole slice at 128x128",
        ),
        ModelEntry(
            name="lung-unetpp-v1-x03",
            task="lung",
            checkpoint="lung-unetpp-v1.pt",
            sha256="a15f1c75b14ecdf1fb01b8f85b92678ea57d54f6abc551cafc7d967464389a62",
            onnx="lung-unetpp-v1-x03.onnx",
            onnx_sha256="f652dcf34c9804e88f5c559b9b6360afe771c6839d02e67396ed2fc329986bde",
            summary="lung-unetpp-v1 pruned at node x_0_3 (the same weights, its 3rd deep-supervision head): faster",
            head=3,
        ),
        ModelEntry(
            name="lesion-unetpp-v2",
            task="lesion",
            checkpoint="lesion-unetpp-v2.pt",
            sha256="a02bcaf48e48317c49f7abdbc6e5e103af3dfffa283964889c025144825f40fc",
            onnx="lesion-unetpp-v2.onnx",
            onnx_sha256="68c9ec94d6677f2521ebb56a1585d10131ff74a2a5863fc84e00ced5906e0530",
            summary="UNet++ COVID-19 lesions, lung crop at 256x256; real lesion shapes drawn in HU",
        ),
        ModelEntry(
            name="lesion-unetpp-v2-x03",
            task="lesion",
            checkpoint="lesion-unetpp-v2.pt",
            sha256="a02bcaf48e48317c49f7abdbc6e5e103af3dfffa283964889c025144825f40fc",
            onnx="lesion-unetpp-v2-x03.onnx",
            onnx_sha256="5cbc5e3a470e309b1c3f39b825cc2d0df486b03c1c47d3ef0df0fa4f842147a7",
            summary="lesion-unetpp-v2 pruned at node x_0_3 (the same weights, its 3rd deep-supervision head): faster",
            head=3,
        ),
    )
}

#: The model each task uses unless told otherwise.
DEFAULT_MODELS: Final[dict[Task, str]] = {"lung": "lung-unetpp-v1-x03", "lesion": "lesion-unetpp-v2-x03"}


def weights_dir() -> Path:
    """The folder the shipped weights live in."""
    return Path(str(resources.files("ctangel.models") / "weights"))


def cache_dir() -> Path:
    """Where ONNX exports of user checkpoints are cached (``$CTANGEL_CACHE``, else ``~/.cache/ctangel``)."""
    root = os.environ.get("CTANGEL_CACHE") or Path.home() / ".cache" / "ctangel"
    return Path(root)


@dataclass
class LoadedModel:
    """A model ready to run.

    Args:
        name: registry name, or the checkpoint's path.
        sha256: the checkpoint's sha256.
        checkpoint: the checkpoint (architecture, input settings, provenance).
        runner: runs batches.
        backend: ``"onnx"`` or ``"torch"``.
    """

    name: str
    sha256: str
    checkpoint: Checkpoint
    runner: Runner
    backend: Backend

    def describe(self) -> dict[str, object]:
        """What results.json records about the model."""
        return {
            "name": self.name,
            "sha256": self.sha256,
            "backend": self.backend,
            "task": self.checkpoint.task,
            "network": self.checkpoint.network.to_dict(),
            "input": {
                "side": self.checkpoint.input.side,
                "crop": self.checkpoint.input.crop,
                "margin": self.checkpoint.input.margin,
            },
            "trained": self.checkpoint.meta.get("trained_at"),
        }


def load_model(name_or_path: str, task: Task, backend: Backend = "onnx", threads: int | None = None) -> LoadedModel:
    """Load a shipped model by name, or a checkpoint by path, for ``task``.

    A shipped model on ONNX Runtime is read from its ONNX export alone (verified by sha256; no torch). A user
    checkpoint is exported to ONNX once and cached under :func:`cache_dir` by its sha256.

    Raises:
        WeightsError: unknown name, missing or damaged file, or a checkpoint made for the other task.
    """
    entry = MODELS.get(name_or_path)
    runner: Runner
    if entry is not None and backend == "onnx":
        onnx_path = weights_dir() / entry.onnx
        if not onnx_path.is_file():
            raise WeightsError(f"{onnx_path}: weight file not found; reinstall ctangel")
        if entry.onnx_sha256 and sha256_file(onnx_path) != entry.onnx_sha256:
            raise WeightsError(f"{onnx_path}: sha256 differs from the registry's; the file is damaged or was replaced")
        onnx_runner = OnnxRunner(onnx_path, threads)
        ckpt, sha, runner = onnx_runner.checkpoint(), entry.sha256, onnx_runner
    else:
        if entry is not None:
            path, expected = weights_dir() / entry.checkpoint, entry.sha256 or None
        else:
            path, expected = Path(name_or_path), None
            if not path.is_file():
                names = ", ".join(sorted(MODELS))
                raise WeightsError(f"{name_or_path}: neither a model name ({names}) nor a checkpoint file")
        ckpt = load_checkpoint(path, expected)
        if entry is not None and entry.head != ckpt.network.head:
            ckpt = dataclasses.replace(ckpt, network=dataclasses.replace(ckpt.network, head=entry.head))
        sha = sha256_file(path)
        if backend == "torch":
            runner = TorchRunner.from_checkpoint(ckpt)
        else:
            cached = cache_dir() / "onnx" / f"{sha}.onnx"
            if not cached.is_file():
                logger.info("exporting %s to ONNX at %s (once)", path, cached)
                export_onnx(ckpt, cached, source_sha256=sha)
            runner = OnnxRunner(cached, threads)
    if ckpt.task != task:
        raise WeightsError(f"{name_or_path}: a {ckpt.task} model, but the {task} stage needs a {task} model")
    return LoadedModel(name=name_or_path, sha256=sha, checkpoint=ckpt, runner=runner, backend=backend)
