from __future__ import annotations

import pytest
import torch

from ctangel.models.network import NetworkConfig, build_network
from ctangel.models.pruning import PrunedUNetPlusPlus


def test_each_level_equals_the_matching_deep_supervision_head() -> None:
    torch.manual_seed(0)
    net = build_network(NetworkConfig(features=(4, 4, 8, 8, 16, 4)), deep_supervision=True).eval()
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        heads = net(x)
        for level in (1, 2, 3, 4):
            (out,) = PrunedUNetPlusPlus(net, level)(x)
            torch.testing.assert_close(out, heads[level - 1])


def test_levels_outside_the_network_are_refused() -> None:
    net = build_network(NetworkConfig(features=(4, 4, 8, 8, 16, 4)))
    with pytest.raises(ValueError, match="x_0_1"):
        PrunedUNetPlusPlus(net, 5)
