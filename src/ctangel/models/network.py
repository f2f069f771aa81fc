"""The UNet++ both stages use (MONAI's BasicUNetPlusPlus), described by a config a checkpoint carries.

Importing this module does not import torch: ``ctangel analyze`` on ONNX Runtime never needs it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monai.networks.nets import BasicUNetPlusPlus


#: The deepest UNet++ head, ``x_0_4``: the whole network.
FULL_LEVEL = 4


@dataclass(frozen=True)
class NetworkConfig:
    """Constructor arguments of the 2-D UNet++, stored in every checkpoint so a weight file rebuilds itself.

    Args:
        features: six feature counts: five encoder levels, then the last decoder node ``x_0_4``.
        in_channels: input channels (1: one grey channel; CT-Angel's three equal grey channels carry nothing more).
        out_channels: output channels (1: a foreground logit).
        norm: MONAI norm name. Instance norm makes each feature map blind to the input's gain and offset,
            which matters here: every source was windowed differently.
        upsample: MONAI upsampling mode.
        head: the node ``x_0_head`` whose output inference uses (Zhou et al. 2018's pruned UNet++): 4 is the
            full network; 1 to 3 skip every node deeper or later than it (deep supervision trains all four
            heads, so any of them segments). Training ignores it.
    """

    features: tuple[int, int, int, int, int, int] = (16, 16, 32, 64, 128, 16)
    in_channels: int = 1
    out_channels: int = 1
    norm: str = "instance"
    upsample: str = "deconv"
    head: int = FULL_LEVEL

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for checkpoints and results.json."""
        d = asdict(self)
        d["features"] = list(self.features)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetworkConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(
            features=tuple(d["features"]),
            in_channels=int(d.get("in_channels", 1)),
            out_channels=int(d.get("out_channels", 1)),
            norm=str(d.get("norm", "instance")),
            upsample=str(d.get("upsample", "deconv")),
            head=int(d.get("head", FULL_LEVEL)),
        )


def build_network(config: NetworkConfig, deep_supervision: bool = False) -> BasicUNetPlusPlus:
    """A fresh UNet++ for ``config``.

    With ``deep_supervision`` the network returns the logits of the nodes ``x_0_1 .. x_0_4`` (training);
    without, a one-element list holding those of ``x_0_4``.
    """
    from monai.networks.nets import BasicUNetPlusPlus

    if not 1 <= config.head <= FULL_LEVEL:
        raise ValueError(f"UNet++ heads are x_0_1 .. x_0_4; got head {config.head}")
    return BasicUNetPlusPlus(
        spatial_dims=2,
        in_channels=config.in_channels,
        out_channels=config.out_channels,
        features=config.features,
        deep_supervision=deep_supervision,
        norm=(config.norm, {"affine": True}),
        upsample=config.upsample,
    )
