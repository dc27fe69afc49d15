"""Length buckets: rows of very different token lengths, grouped by length.

The text path cuts a batch after its last end-of-text token, so in one batch every row pays
for the longest. Grouping rows by length (a few buckets, chosen to minimise the padded
tokens; ``workers.text_packing`` runs all buckets in one pass) lets short words stop paying
for long ones; ``unbucket`` puts the rows back in their original order. Tensors in, out.
"""

from __future__ import annotations

import torch


def length_buckets(
    lengths: torch.Tensor, *, max_buckets: int = 3, min_saving: float = 0.15
) -> list[torch.Tensor]:
    """Row indices grouped by length, shortest group first. (N,) -> [(n_b,), ...]

    Among groupings into at most ``max_buckets`` runs of the sorted lengths, picks the one with
    the fewest padded tokens (rows x the bucket's longest row), where every bucket past the
    first must pay its way: it costs ``min_saving`` of the unbucketed batch's tokens (each
    bucket has fixed costs too). One bucket holds every row in order, so nothing moves.
    """
    if max_buckets < 1:
        raise ValueError(f"max_buckets >= 1 must hold, but got max_buckets={max_buckets}")
    n = lengths.shape[0]
    if max_buckets == 1 or n < 2:
        return [torch.arange(n, device=lengths.device)]
    values, counts = torch.unique(lengths, return_counts=True)  # ascending distinct lengths
    values, counts = values.tolist(), counts.tolist()
    if len(values) == 1:
        return [torch.arange(n, device=lengths.device)]
    below = [0]  # rows shorter than values[i]
    for count in counts:
        below.append(below[-1] + count)
    penalty = min_saving * n * values[-1]
    # best[k][j]: cheapest cost of the first j distinct lengths in k buckets; cut[k][j]: its split
    inf = float("inf")
    best = [[inf] * (len(values) + 1) for _ in range(max_buckets + 1)]
    cut = [[0] * (len(values) + 1) for _ in range(max_buckets + 1)]
    best[0][0] = 0.0
    for k in range(1, max_buckets + 1):
        for j in range(1, len(values) + 1):
            for i in range(j):
                cost = best[k - 1][i] + (below[j] - below[i]) * values[j - 1] + penalty
                if cost < best[k][j]:
                    best[k][j], cut[k][j] = cost, i
    k = min(range(1, max_buckets + 1), key=lambda k: best[k][len(values)])
    if k == 1:
        return [torch.arange(n, device=lengths.device)]
    edges, j = [], len(values)
    while k:
        edges.append(values[j - 1])
        j, k = cut[k][j], k - 1
    edges.reverse()  # the longest length of each bucket, ascending
    bucket = torch.bucketize(lengths, torch.tensor(edges, device=lengths.device))  # (N,)
    return [torch.nonzero(bucket == b).flatten() for b in range(len(edges))]


def unbucket(parts: list[torch.Tensor], buckets: list[torch.Tensor]) -> torch.Tensor:
    """Per-bucket rows back in their original order. [(n_b, E), ...] -> (N, E)"""
    if len(buckets) == 1:  # one bucket holds every row in order
        return parts[0]
    return torch.cat(parts)[torch.cat(buckets).argsort()]
