"""CoA-weights: the per-group mixture of the generalized (t0) and specialized (t1) prompts.

``z(x, c) = pi_0(c) * s_t0(x, c) + pi_1(c) * s_t1(x, c)``, prediction ``softmax(z / tau)``.
``pi(c)`` is ``pi_in`` for base (in-) classes and ``pi_out`` for every other label, each a
softmax over two learnable logits, so ``pi_0 + pi_1 = 1`` and ``pi >= 0``.
"""

from __future__ import annotations

import torch
from torch import nn

IN, OUT = 0, 1  # weight groups
GENERALIZED, SPECIALIZED = 0, 1  # mixture components


class CoAWeights(nn.Module):
    """Two weight groups (in, out), each a softmax over (generalized, specialized) logits."""

    def __init__(self, specialized_init: float = 0.5) -> None:
        super().__init__()
        if not 0 < specialized_init < 1:
            raise ValueError(f"0 < specialized_init < 1 must hold, but got {specialized_init}")
        logit = torch.log(torch.tensor(specialized_init / (1 - specialized_init)))
        self.logits = nn.Parameter(torch.stack([torch.zeros(()), logit]).repeat(2, 1))  # (2, 2)

    def forward(self) -> torch.Tensor:
        """``pi`` per group. -> (2 groups, 2 components)"""
        return self.logits.softmax(dim=-1)

    def per_class(self, is_in_class: torch.Tensor) -> torch.Tensor:
        """Each label's ``(pi_0, pi_1)`` from its group. (C,) bool -> (C, 2)"""
        pi = self()  # (2, 2)
        return torch.where(is_in_class[:, None], pi[IN], pi[OUT])

    def group(self, group: int) -> torch.Tensor:
        """``(pi_0, pi_1)`` of one group. -> (2,)"""
        return self()[group]


def mixture_logits(
    generalized: torch.Tensor, specialized: torch.Tensor, pi: torch.Tensor
) -> torch.Tensor:
    """Mix two prompts' logits per class.

    generalized, specialized: (N, C) = s / tau; pi: (2,) one weight pair for every label, or
    (C, 2) a pair per label -> (N, C)
    """
    if pi.dim() == 1:
        pi = pi.expand(generalized.shape[1], 2)  # (C, 2)
    return pi[:, GENERALIZED] * generalized + pi[:, SPECIALIZED] * specialized


def k_prompt_weights(
    in_logits: torch.Tensor, out_logits: torch.Tensor, owner: torch.Tensor
) -> torch.Tensor:
    """Each class's weights over the generalized prompt and K specialized prompts.

    Prompt ``s`` contributes its in-logit to the classes it was trained on (``owner == s``)
    and its out-logit to every other class; the generalized prompt's logit is 0; a class's
    weights are the softmax over those K + 1 logits, so they are >= 0 and sum to 1. With
    K = 1 and the logits ``l_g = logits[g, 1] - logits[g, 0]`` of a ``CoAWeights`` this is
    exactly the two-prompt mixture's ``pi_in`` / ``pi_out``.
    in_logits, out_logits: (K,); owner: (C,) in [0, K) -> (C, K + 1)
    """
    k = in_logits.shape[0]
    mine = owner[:, None] == torch.arange(k, device=owner.device)[None, :]  # (C, K)
    logits = torch.where(mine, in_logits[None, :], out_logits[None, :])  # (C, K)
    zero = torch.zeros(len(owner), 1, dtype=logits.dtype, device=logits.device)
    return torch.cat([zero, logits], dim=1).softmax(dim=-1)


def k_mixture_logits(
    generalized: torch.Tensor, specialized: torch.Tensor, pi: torch.Tensor
) -> torch.Tensor:
    """``z(x, c) = pi_0(c) s_t0(x, c) + sum_s pi_s(c) s_ts(x, c)``.

    generalized: (N, C); specialized: (K, N, C); pi: (C, K + 1) -> (N, C)
    """
    mixed = pi[None, :, 0] * generalized
    return mixed + (pi.T[1:, None, :] * specialized).sum(dim=0)
