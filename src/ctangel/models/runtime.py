"""Running a trained model on batches of model-grid images: ONNX Runtime (default) or eager torch.

ONNX exports carry the checkpoint's description (task, network, input settings, provenance) in their
metadata, so the ONNX path never imports torch.
"""

from __future__ import annotations

import json
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np
import numpy.typing as npt

from ctangel.errors import WeightsError
from ctangel.models.checkpoint import Checkpoint

if TYPE_CHECKING:
    import onnxruntime as ort
    import torch

Backend = Literal["onnx", "torch"]
#: The ONNX graph's input and output names.
ONNX_INPUT = "image"
ONNX_OUTPUT = "probability"
#: ONNX opset the exporter writes.
ONNX_OPSET = 17
#: Metadata keys of an export: the checkpoint's description (JSON) and the sha256 of the checkpoint file.
ONNX_META_CHECKPOINT = "ctangel_checkpoint"
ONNX_META_SOURCE_SHA256 = "ctangel_source_sha256"


class Runner(Protocol):
    """Maps images ``(B, side, side)`` in 0..1 to foreground probabilities of the same shape."""

    def __call__(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...


def default_threads() -> int:
    """Threads for one model: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class TorchRunner:
    """Eager torch on the CPU.

    Args:
        net: a UNet++ (its last output is used), in eval mode.
    """

    def __init__(self, net: torch.nn.Module) -> None:
        from ctangel.models.head import ProbabilityHead

        self.model = ProbabilityHead(net)

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint) -> TorchRunner:
        """A runner for a checkpoint's network."""
        return cls(checkpoint.build_for_inference())

    def __call__(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).unsqueeze(1)
            return self.model(x)[:, 0].numpy()


class OnnxRunner:
    """ONNX Runtime sessions, created once and reused.

    A batch of at least ``threads`` images is split between ``threads`` single-threaded sessions run side by
    side (one per core); a smaller batch runs on one session with ``threads`` intra-op threads. Measured on 2
    cores: alone (``bench/results/model_speed.md``) the lesion network runs faster split and the lung network
    slower; inside the pipeline's 3-D lung pass (300-slice phantom, 3 interleaved runs each) the lung stage took
    4.3-5.4 s split against 4.8-5.6 s on one session, so both are split.

    Args:
        onnx_path: the exported model.
        threads: cores to use (default: the cores this process may use).
    """

    def __init__(self, onnx_path: str | Path, threads: int | None = None) -> None:
        self.threads = threads or default_threads()
        self.session = self._session(onnx_path, self.threads)
        self.singles = [self._session(onnx_path, 1) for _ in range(self.threads)] if self.threads > 1 else []
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="ctangel-onnx") if self.singles else None
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)

    @staticmethod
    def _session(onnx_path: str | Path, threads: int) -> ort.InferenceSession:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            return ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for a bad file
            raise WeightsError(f"{onnx_path}: not a loadable ONNX model ({exc})") from exc

    def checkpoint(self) -> Checkpoint:
        """The description of the checkpoint this model was exported from (no weights).

        Raises:
            WeightsError: the export carries no ctangel description.
        """
        raw = self.metadata.get(ONNX_META_CHECKPOINT)
        if raw is None:
            raise WeightsError("this ONNX model carries no ctangel checkpoint description; re-export it")
        return Checkpoint.from_description(json.loads(raw), state_dict={})

    def __call__(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        x = np.ascontiguousarray(batch, dtype=np.float32)[:, None]
        if self._pool is None or len(x) < len(self.singles):
            outs = [_run_session(self.session, x)]
        else:
            outs = list(self._pool.map(_run_session, self.singles, np.array_split(x, len(self.singles))))
        return np.concatenate([np.asarray(o[:, 0], dtype=np.float32) for o in outs])


def _run_session(session: ort.InferenceSession, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    (out,) = session.run([ONNX_OUTPUT], {ONNX_INPUT: x})
    return np.asarray(out)


def export_network_onnx(net: torch.nn.Module, side: int, in_channels: int, path: str | Path) -> Path:
    """Write a UNet++ (its last output, as probabilities) as ONNX: input ``image`` ``(B, C, side, side)``,
    output ``probability`` ``(B, 1, side, side)``, the batch size free."""
    import torch

    from ctangel.models.head import ProbabilityHead

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The tracer warns about MONAI's shape checks and instance norm's training flag; both are constant for a
    # fixed grid side and correct for instance norm (it always uses the input's own statistics).
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            ProbabilityHead(net).eval(),
            (torch.zeros(1, in_channels, side, side),),
            str(path),
            input_names=[ONNX_INPUT],
            output_names=[ONNX_OUTPUT],
            dynamic_axes={ONNX_INPUT: {0: "batch"}, ONNX_OUTPUT: {0: "batch"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    return path


def export_onnx(checkpoint: Checkpoint, path: str | Path, source_sha256: str = "") -> Path:
    """Write the checkpoint's model as ONNX (see :func:`export_network_onnx`), with the checkpoint's
    description and ``source_sha256`` (the checkpoint file's hash) in its metadata."""
    import onnx

    path = Path(path)
    tmp = export_network_onnx(
        checkpoint.build_for_inference(),
        checkpoint.input.side,
        checkpoint.network.in_channels,
        path.with_suffix(".tmp.onnx"),
    )
    proto = onnx.load(str(tmp))
    for key, value in (
        (ONNX_META_CHECKPOINT, json.dumps(checkpoint.describe(), default=str)),
        (ONNX_META_SOURCE_SHA256, source_sha256),
    ):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(tmp))
    tmp.replace(path)
    return path
