"""UNet++ pruned at inference (Zhou et al. 2018, section 2.3): stop at node ``x_0_L`` and skip the rest.

Deep supervision trains every head ``x_0_1 .. x_0_4`` to segment on its own, so a network can be cut at a
shallower head for speed. Nodes are named in the paper's notation ``x_i_j`` (depth i, j-th node of its row),
as MONAI's :class:`~monai.networks.nets.BasicUNetPlusPlus` names its modules.
"""

from __future__ import annotations

import torch
from monai.networks.nets import BasicUNetPlusPlus
from torch import nn

from ctangel.models.network import FULL_LEVEL


class PrunedUNetPlusPlus(nn.Module):
    """The sub-network of a trained BasicUNetPlusPlus that ends at head ``x_0_level``.

    Args:
        net: a trained network (its modules are shared, not copied).
        level: 1 to 4; 4 is the full network.

    Shapes: ``(B, C_in, H, W) -> [(B, C_out, H, W)]`` (a one-element list, like the full network's).
    """

    def __init__(self, net: BasicUNetPlusPlus, level: int) -> None:
        super().__init__()
        if not 1 <= level <= FULL_LEVEL:
            raise ValueError(f"UNet++ heads are x_0_1 .. x_0_4; got level {level}")
        self.net = net
        self.level = level

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        n = self.net
        x_0_0 = n.conv_0_0(x)
        x_1_0 = n.conv_1_0(x_0_0)
        x_0_1 = n.upcat_0_1(x_1_0, x_0_0)
        if self.level == 1:
            return [n.final_conv_0_1(x_0_1)]
        x_2_0 = n.conv_2_0(x_1_0)
        x_1_1 = n.upcat_1_1(x_2_0, x_1_0)
        x_0_2 = n.upcat_0_2(x_1_1, torch.cat([x_0_0, x_0_1], dim=1))
        if self.level == 2:
            return [n.final_conv_0_2(x_0_2)]
        x_3_0 = n.conv_3_0(x_2_0)
        x_2_1 = n.upcat_2_1(x_3_0, x_2_0)
        x_1_2 = n.upcat_1_2(x_2_1, torch.cat([x_1_0, x_1_1], dim=1))
        x_0_3 = n.upcat_0_3(x_1_2, torch.cat([x_0_0, x_0_1, x_0_2], dim=1))
        if self.level == 3:
            return [n.final_conv_0_3(x_0_3)]
        x_4_0 = n.conv_4_0(x_3_0)
        x_3_1 = n.upcat_3_1(x_4_0, x_3_0)
        x_2_2 = n.upcat_2_2(x_3_1, torch.cat([x_2_0, x_2_1], dim=1))
        x_1_3 = n.upcat_1_3(x_2_2, torch.cat([x_1_0, x_1_1, x_1_2], dim=1))
        x_0_4 = n.upcat_0_4(x_1_3, torch.cat([x_0_0, x_0_1, x_0_2, x_0_3], dim=1))
        return [n.final_conv_0_4(x_0_4)]
