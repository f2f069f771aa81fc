"""The network as inference runs it: probabilities of the last UNet++ node (imports torch)."""

from __future__ import annotations

import torch
from torch import nn


class ProbabilityHead(nn.Module):
    """Wraps a UNet++ so that it maps ``(B, C, H, W)`` 0..1 images to ``(B, 1, H, W)`` probabilities.

    The probability is that of the last node ``x_0_4``.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        logits = out[-1] if isinstance(out, (list, tuple)) else out
        return torch.sigmoid(logits)
