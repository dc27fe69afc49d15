"""CLIP-Adapter's residual bottleneck on frozen image features: visual tuning that keeps the
feature cache useful (the image tower stays frozen; only this small module learns).

``adapted(x) = normalize(ratio * A(x) + (1 - ratio) * x)`` with ``A`` a two-layer bottleneck
MLP (dim -> dim / 4 -> dim, ReLU after each), as in CLIP-Adapter.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

REDUCTION = 4


class Adapter(nn.Module):
    def __init__(self, dim: int, ratio: float) -> None:
        super().__init__()
        self.ratio = ratio
        hidden = max(1, dim // REDUCTION)
        self.net = nn.Sequential(
            nn.Linear(dim, hidden, bias=False),
            nn.ReLU(),
            nn.Linear(hidden, dim, bias=False),
            nn.ReLU(),
        )

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """L2-normalised image features. (N, E) -> (N, E)"""
        mixed = self.ratio * self.net(feats) + (1 - self.ratio) * feats
        return F.normalize(mixed, dim=-1)
