"""Packed text encoding: a shared prefix run once, rows of several lengths in one pass.

With one context shared by every class and the class name after it, the first positions of
every prompt (``[SOS] V_1 ... V_M``) are the same embeddings, and under a causal mask their
states cannot see the class name. So the prefix is run once (a batch of one) and in every
block each row's own tokens attend to the prefix's keys and values next to their own.

Rows are given in groups of similar length (``length_buckets``: the text path cuts a batch
after its last end-of-text token, so in one batch every row pays for the longest; a few
buckets chosen to minimise the padded tokens let short words stop paying for long ones), each
cut after its own last end-of-text token. The position-wise parts of a block (layer norms,
projections, MLP) run on all tokens of the prefix and of every group packed into one
matrix, so the weights are read once per block however many groups there are; only
attention runs per group.

open_clip's ``ResidualAttentionBlock`` (``ln_1``, ``attn``, ``ls_1``, ``ln_2``, ``mlp``,
``ls_2``, batch first, ``nn.MultiheadAttention``) is run by hand; ``unsupported`` names any
other structure, and callers then keep the ordinary path. Tensors in, tensors out.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from workers.model import TextTower, project_pooled


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


def unsupported(tower: TextTower) -> str | None:
    """Why the packed path cannot run this text tower, or None when it can."""
    if tower.attn_mask is None:
        return "the text transformer has no causal mask, so prefix states would see the name"
    blocks = getattr(tower.transformer, "resblocks", None)
    if blocks is None or not getattr(tower.transformer, "batch_first", False):
        return f"{type(tower.transformer).__name__} is not a batch-first open_clip Transformer"
    for i, block in enumerate(blocks):
        attn = getattr(block, "attn", None)
        if not isinstance(attn, nn.MultiheadAttention):
            return f"block {i} ({type(block).__name__}) has no nn.MultiheadAttention"
        if not all(hasattr(block, part) for part in ("ln_1", "ls_1", "ln_2", "mlp", "ls_2")):
            return f"block {i} ({type(block).__name__}) is not ln_1/attn/ls_1/ln_2/mlp/ls_2"
        if hasattr(block, "ln_1_kv"):
            return f"block {i} is a cross-attention block"
        if (
            not attn.batch_first
            or not attn._qkv_same_embed_dim
            or attn.bias_k is not None
            or attn.add_zero_attn
            or (attn.dropout and attn.training)
        ):
            return f"block {i}'s attention uses options the hand-run block does not replay"
    return None


def _heads(x: torch.Tensor, rows: int, n_heads: int) -> torch.Tensor:
    """Packed tokens of equal-length rows, split into heads. (rows * T, w) -> (rows, h, T, hd)"""
    return x.view(rows, -1, n_heads, x.shape[-1] // n_heads).transpose(1, 2)


def _embed(tower: TextTower, embeddings: torch.Tensor, start: int) -> torch.Tensor:
    """Token plus position embeddings, packed. (B, T, D), first position -> (B * T, w)"""
    cast_dtype = tower.transformer.get_cast_dtype()
    positions = tower.positional_embedding[start : start + embeddings.shape[1]]  # (T, w)
    return (embeddings.to(cast_dtype) + positions.to(cast_dtype)).flatten(0, 1)


def encode_packed(
    tower: TextTower,
    *,
    prefix: torch.Tensor | None,
    groups: Sequence[tuple[torch.Tensor, torch.Tensor]],
) -> list[torch.Tensor]:
    """Unnormalised features of every group's rows, in one pass through the transformer.

    prefix: (1, P, D) embeddings shared by every row, or None (P = 0). groups: pairs of
    (n, S, D) embeddings from position P on and (n,) positions of each row's pooled
    end-of-text token in the whole sequence -> one (n, embed_dim) tensor per group.
    """
    start = 0 if prefix is None else prefix.shape[1]
    assert min(int(eot.min()) for _, eot in groups) >= start, "pooled token inside the prefix"
    # each group is cut after its own last end-of-text token
    cut = [emb[:, : int(eot.max()) + 1 - start] for emb, eot in groups]  # (n, S, D) each
    segments = ([prefix] if start else []) + cut  # packed in this order
    shapes = [(emb.shape[0], emb.shape[1]) for emb in segments]  # (rows, tokens)
    sizes = [rows * tokens for rows, tokens in shapes]
    x = torch.cat([_embed(tower, emb, 0 if emb is prefix else start) for emb in segments])
    blocks = tower.transformer.resblocks
    n_heads = blocks[0].attn.num_heads
    for block in blocks:
        qkv = F.linear(block.ln_1(x), block.attn.in_proj_weight, block.attn.in_proj_bias)
        outs = []
        k_prefix = v_prefix = None
        for (rows, tokens), part in zip(shapes, qkv.split(sizes), strict=True):
            q, k, v = part.chunk(3, dim=-1)  # (n * S, w) each
            q, k, v = (_heads(t, rows, n_heads) for t in (q, k, v))  # (n, h, S, hd)
            if start and k_prefix is None:  # the prefix itself: causal over its own tokens
                k_prefix, v_prefix = k, v  # (1, h, P, hd)
                mask = tower.attn_mask[:start, :start]  # (P, P)
            else:  # a group: every prefix key, then causal over its own tokens
                mask = tower.attn_mask[start : start + tokens, : start + tokens]  # (S, P + S)
                if start:
                    k = torch.cat([k_prefix.expand(rows, -1, -1, -1), k], dim=2)  # (n, h, P+S, hd)
                    v = torch.cat([v_prefix.expand(rows, -1, -1, -1), v], dim=2)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.to(q.dtype))
            outs.append(out.transpose(1, 2).flatten(0, 1).flatten(1))  # (n * S, w)
        x = x + block.ls_1(block.attn.out_proj(torch.cat(outs)))  # (T, w)
        x = x + block.ls_2(block.mlp(block.ln_2(x)))
    offsets = [sum(sizes[:i]) for i in range(len(sizes))][-len(groups) :]  # of each group
    pooled_at = torch.cat(  # (N,) packed position of each row's pooled token
        [
            offset + torch.arange(emb.shape[0], device=x.device) * emb.shape[1] + eot - start
            for offset, emb, (_, eot) in zip(offsets, cut, groups, strict=True)
        ]
    )
    feats = project_pooled(tower, tower.ln_final(x[pooled_at]))  # (N, embed_dim)
    return list(feats.split([len(eot) for _, eot in groups]))
