"""CoOp prompt learner: learned context vectors around frozen class-name embeddings.

A prompt is ``[SOS] V_1 ... V_M {name} . [EOS]`` (class token at ``end``), or with the name
at the ``front`` or in the ``middle`` of the context. Only ``ctx`` is learned; the start
token and the name/period/end tokens are frozen buffers (``FrozenPrompts``), one set per
list of names, so the same context can be applied to class names and to outlier words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from workers.model import encode_token_embeddings, end_of_text_index

if TYPE_CHECKING:
    from workers.model import Clip

CLASS_POSITIONS = ("end", "middle", "front")
PLACEHOLDER = "X"


@dataclass(frozen=True)
class FrozenPrompts:
    """The frozen token embeddings of one list of names, cut around the context slots."""

    prefix: torch.Tensor  # (n, 1, D) start-of-text
    suffix: torch.Tensor  # (n, L - 1 - n_ctx, D) name tokens, '.', end-of-text, padding
    name_lens: tuple[int, ...]  # tokens of each name
    eot_index: torch.Tensor  # (n,) position of the pooled end-of-text token

    def __len__(self) -> int:
        return self.prefix.shape[0]


@torch.no_grad()
def freeze_prompts(clip: Clip, names: Sequence[str], n_ctx: int) -> FrozenPrompts:
    """Tokenize ``X * n_ctx {name}.`` and keep everything but the context slots."""
    placeholder = " ".join([PLACEHOLDER] * n_ctx)
    ids = clip.tokenize([f"{placeholder} {name}." for name in names])  # (n, L)
    embeds = clip.text.token_embedding(ids)  # (n, L, D)
    # tokens between start-of-text (position 0) and end-of-text
    name_lens = tuple(int(n) for n in end_of_text_index(clip.text, clip.tokenize(names)) - 1)
    return FrozenPrompts(
        prefix=embeds[:, :1].clone(),
        suffix=embeds[:, 1 + n_ctx :].clone(),
        name_lens=name_lens,
        eot_index=end_of_text_index(clip.text, ids),
    )


class PromptLearner(nn.Module):
    """Learned context ``ctx``: shared (n_ctx, D) or class-specific (n_cls, n_ctx, D)."""

    def __init__(
        self,
        *,
        ctx_init: torch.Tensor | None,
        n_ctx: int,
        width: int,
        class_position: str = "end",
        n_classes_specific: int = 0,
        init_std: float = 0.02,
    ) -> None:
        super().__init__()
        if n_ctx < 1:
            raise ValueError(f"n_ctx >= 1 must hold, but got n_ctx={n_ctx}")
        if class_position not in CLASS_POSITIONS:
            raise ValueError(
                f"class_position must be one of {CLASS_POSITIONS}, got {class_position!r}"
            )
        if ctx_init is not None:
            ctx = ctx_init.detach().clone().float()  # (n_ctx, D)
        else:
            ctx = torch.empty(n_ctx, width).normal_(std=init_std)  # (n_ctx, D)
        if n_classes_specific:
            ctx = ctx.unsqueeze(0).repeat(n_classes_specific, 1, 1)  # (n_cls, n_ctx, D)
        self.ctx = nn.Parameter(ctx)
        self.n_ctx = n_ctx
        self.class_position = class_position

    @property
    def class_specific(self) -> bool:
        return self.ctx.dim() == 3

    def forward(self, frozen: FrozenPrompts) -> torch.Tensor:
        """Assemble full prompt embeddings for ``frozen``'s names. -> (n, L, D)"""
        n = len(frozen)
        ctx = self.ctx if self.class_specific else self.ctx.expand(n, -1, -1)  # (n, n_ctx, D)
        if self.class_specific and ctx.shape[0] != n:
            raise ValueError(f"class-specific context has {ctx.shape[0]} classes, prompts have {n}")
        ctx = ctx.to(frozen.prefix.dtype)
        if self.class_position == "end":
            return torch.cat([frozen.prefix, ctx, frozen.suffix], dim=1)  # (n, L, D)
        half = self.n_ctx // 2
        rows = []
        for i, name_len in enumerate(frozen.name_lens):
            name = frozen.suffix[i : i + 1, :name_len]  # (1, name_len, D)
            rest = frozen.suffix[i : i + 1, name_len:]  # (1, *, D)
            c = ctx[i : i + 1]  # (1, n_ctx, D)
            if self.class_position == "middle":
                parts = [frozen.prefix[i : i + 1], c[:, :half], name, c[:, half:], rest]
            else:  # front
                parts = [frozen.prefix[i : i + 1], name, c, rest]
            rows.append(torch.cat(parts, dim=1))
        return torch.cat(rows, dim=0)  # (n, L, D)


def create_prompt_learner(
    clip: Clip,
    *,
    n_ctx: int = 4,
    ctx_init: str | None = "a photo of a",
    class_position: str = "end",
    n_classes_specific: int = 0,
    init_std: float = 0.02,
) -> PromptLearner:
    """A learner whose context starts at the embeddings of ``ctx_init`` (or random N(0, std^2)).

    With ``ctx_init`` its token count sets the context length and must match ``n_ctx``.
    """
    init = None
    if ctx_init:
        ids = clip.tokenize([ctx_init])  # (1, L)
        n_tokens = int(end_of_text_index(clip.text, ids)) - 1
        if n_tokens != n_ctx:
            raise ValueError(
                f"ctx_init {ctx_init!r} has {n_tokens} tokens but n_ctx={n_ctx}; make them agree"
            )
        with torch.no_grad():
            init = clip.text.token_embedding(ids)[0, 1 : 1 + n_ctx]  # (n_ctx, D)
    return PromptLearner(
        ctx_init=init,
        n_ctx=n_ctx,
        width=clip.text.token_embedding.embedding_dim,
        class_position=class_position,
        n_classes_specific=n_classes_specific,
        init_std=init_std,
    ).to(clip.device)


def encode_prompts(clip: Clip, learner: PromptLearner, frozen: FrozenPrompts) -> torch.Tensor:
    """L2-normalised text features of the learned prompts. -> (n, embed_dim)"""
    feats = encode_token_embeddings(clip.text, learner(frozen), frozen.eot_index)
    return nn.functional.normalize(feats.float(), dim=-1)
