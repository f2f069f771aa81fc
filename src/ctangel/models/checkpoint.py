"""Checkpoints that rebuild their model alone: architecture, input settings, weights and provenance."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from ctangel.constants import LESION_CROP_MIN_FRACTION, LUNG_WINDOW_LEVEL_HU, LUNG_WINDOW_WIDTH_HU
from ctangel.errors import WeightsError
from ctangel.models.network import FULL_LEVEL, NetworkConfig, build_network
from ctangel.preprocessing import SquareCrop, Window

if TYPE_CHECKING:
    import torch
    from monai.networks.nets import BasicUNetPlusPlus

#: Format tag written into every checkpoint.
CHECKPOINT_FORMAT: Final = "ctangel-checkpoint/1"

Task = Literal["lung", "lesion"]
CropMode = Literal["whole", "lung_box"]


@dataclass(frozen=True)
class InputSpec:
    """How a stage's model sees a slice: the crop, the grid side and the HU window.

    Args:
        side: model grid side, pixels.
        crop: ``"whole"`` (the whole slice, centred in a square) or ``"lung_box"`` (the lung box, squared).
        margin: for ``"lung_box"``, the share of the box's longer side added on each side.
        window_width: HU window width for HU input.
        window_level: HU window level for HU input.
    """

    side: int
    crop: CropMode
    margin: float = 0.0
    window_width: float = LUNG_WINDOW_WIDTH_HU
    window_level: float = LUNG_WINDOW_LEVEL_HU

    @property
    def window(self) -> Window:
        """The HU window."""
        return Window(self.window_width, self.window_level)

    def crop_for(self, shape: tuple[int, int], lung_box: tuple[float, float, float, float] | None) -> SquareCrop:
        """The crop this stage uses on a slice of ``shape`` whose lung box is ``lung_box``."""
        if self.crop == "lung_box" and lung_box is not None:
            min_extent = LESION_CROP_MIN_FRACTION * max(shape)
            return SquareCrop.around(lung_box, self.side, self.margin, min_extent=min_extent)
        return SquareCrop.whole(shape, self.side)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputSpec:
        """Inverse of ``dataclasses.asdict``."""
        return cls(**d)


@dataclass
class Checkpoint:
    """Everything needed to rebuild and use a trained model.

    Args:
        task: ``"lung"`` or ``"lesion"``.
        network: the UNet++ constructor arguments.
        input: how the model sees a slice.
        state_dict: the weights.
        meta: provenance: data, split, command, time, validation figures.
    """

    task: Task
    network: NetworkConfig
    input: InputSpec
    state_dict: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)

    def build(self, deep_supervision: bool = False) -> BasicUNetPlusPlus:
        """The whole network with these weights, in eval mode on the CPU."""
        net = build_network(self.network, deep_supervision=deep_supervision)
        net.load_state_dict(self.state_dict)
        return net.eval()

    def build_for_inference(self) -> torch.nn.Module:
        """The network inference runs: the whole UNet++, or its sub-network ending at head ``x_0_head``."""
        from ctangel.models.pruning import PrunedUNetPlusPlus

        net = self.build()
        return net if self.network.head == FULL_LEVEL else PrunedUNetPlusPlus(net, self.network.head).eval()

    def to_dict(self) -> dict[str, Any]:
        """The form written to disk."""
        return {**self.describe(), "state_dict": self.state_dict}

    def describe(self) -> dict[str, Any]:
        """Everything but the weights: what an ONNX export carries in its metadata."""
        return {
            "format": CHECKPOINT_FORMAT,
            "task": self.task,
            "network": self.network.to_dict(),
            "input": asdict(self.input),
            "meta": self.meta,
        }

    @classmethod
    def from_description(cls, d: dict[str, Any], state_dict: dict[str, torch.Tensor] | None = None) -> Checkpoint:
        """Inverse of :meth:`describe` (and of :meth:`to_dict` when ``d`` holds the weights)."""
        if d.get("format") != CHECKPOINT_FORMAT:
            raise WeightsError(f"not a ctangel checkpoint description (format tag {CHECKPOINT_FORMAT!r} missing)")
        return cls(
            task=d["task"],
            network=NetworkConfig.from_dict(d["network"]),
            input=InputSpec.from_dict(d["input"]),
            state_dict=state_dict if state_dict is not None else d.get("state_dict", {}),
            meta=d.get("meta", {}),
        )

    def save(self, path: str | Path) -> str:
        """Write the checkpoint; return its sha256."""
        import torch

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(self.to_dict(), tmp)
        tmp.replace(path)
        return sha256_file(path)


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_checkpoint(path: str | Path, sha256: str | None = None) -> Checkpoint:
    """Read a checkpoint onto the CPU, verifying its sha256 when one is given.

    Raises:
        WeightsError: the file is missing, its hash differs, or it is not a ctangel checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weight file not found; reinstall ctangel or pass a checkpoint you trained")
    if sha256 is not None and sha256_file(path) != sha256:
        raise WeightsError(f"{path}: sha256 differs from the registry's; the file is damaged or was replaced")
    import torch

    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged file
        raise WeightsError(f"{path}: not a readable checkpoint ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("format") != CHECKPOINT_FORMAT:
        raise WeightsError(f"{path}: not a ctangel checkpoint (format tag {CHECKPOINT_FORMAT!r} missing)")
    return Checkpoint.from_description(raw)


def write_untrained_pair(
    folder: str | Path, features: tuple[int, int, int, int, int, int], side: int, seed: int = 0
) -> tuple[Path, Path]:
    """Write an untrained lung and lesion checkpoint (``tiny-lung.pt``, ``tiny-lesion.pt``) into ``folder``.

    For tests and benches that exercise the machinery, not the accuracy: small random networks with the shipped
    models' crops (whole slice for the lung, lung box with an 8% margin for the lesions).
    """
    import torch

    torch.manual_seed(seed)
    config = NetworkConfig(features=features)
    paths = []
    for task, spec in (
        ("lung", InputSpec(side=side, crop="whole")),
        ("lesion", InputSpec(side=side, crop="lung_box", margin=0.08)),
    ):
        path = Path(folder) / f"tiny-{task}.pt"
        Checkpoint(task, config, spec, build_network(config).state_dict()).save(path)  # type: ignore[arg-type]
        paths.append(path)
    return paths[0], paths[1]
