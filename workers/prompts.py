"""CoOp prompt learner: learned context vectors around frozen class-name embeddings.

A prompt is ``[SOS] V_1 ... V_M {name} . [EOS]`` (class token at ``end``), or with the name
at the ``front`` or in the ``middle`` of the context. Only ``ctx`` is learned; the start
token and the name/period/end tokens are frozen buffers (``FrozenPrompts``), one set per
list of names, so the same context can be applied to class names and to outlier words.

``encode_prompts`` pays for little more than each row's own tokens: rows are cut after the
last end-of-text token, a shared context is run once for all rows (``shared_prefix``), and
rows of very different lengths can go in separate length buckets (``max_buckets``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from workers import text_packing
from workers.model import encode_token_embeddings, end_of_text_index

if TYPE_CHECKING:
    from workers.model import Clip

log = logging.getLogger(__name__)

CLASS_POSITIONS = ("end", "middle", "front")
PLACEHOLDER = "X"


@dataclass(frozen=True)
class FrozenPrompts:
    """The frozen token embeddings of one list of names, cut around the context slots."""

    prefix: torch.Tensor  # (n, 1, D) start-of-text
    suffix: torch.Tensor  # (n, S, D) name tokens, '.', end-of-text (padding cut, when causal)
    name_lens: tuple[int, ...]  # tokens of each name
    eot_index: torch.Tensor  # (n,) position of the pooled end-of-text token

    def __len__(self) -> int:
        return self.prefix.shape[0]


def freeze_prompts(clip: Clip, names: Sequence[str], n_ctx: int) -> FrozenPrompts:
    """Tokenize ``X * n_ctx {name}.`` and keep everything but the context slots."""
    return _freeze(clip, *_tokenize(clip, names, n_ctx), n_ctx)


def _tokenize(clip: Clip, names: Sequence[str], n_ctx: int) -> tuple[torch.Tensor, list[int]]:
    """Token ids of ``X * n_ctx {name}.`` (n, L) and the token count of each name."""
    placeholder = " ".join([PLACEHOLDER] * n_ctx)
    ids = clip.tokenize([f"{placeholder} {name}." for name in names])  # (n, L)
    # tokens between start-of-text (position 0) and end-of-text
    name_lens = (end_of_text_index(clip.text, clip.tokenize(names)) - 1).tolist()
    return ids, name_lens


@torch.no_grad()
def _freeze(clip: Clip, ids: torch.Tensor, name_lens: Sequence[int], n_ctx: int) -> FrozenPrompts:
    """Embed prompt token ids (n, L). Under a causal mask nothing after the last end-of-text
    token reaches a pooled feature, so the padding past it is not kept."""
    eot_index = end_of_text_index(clip.text, ids)  # (n,)
    if clip.text.attn_mask is not None:
        ids = ids[:, : int(eot_index.max()) + 1]  # (n, L'), L' <= L
    embeds = clip.text.token_embedding(ids)  # (n, L', D)
    return FrozenPrompts(
        prefix=embeds[:, :1].clone(),
        suffix=embeds[:, 1 + n_ctx :].clone(),
        name_lens=tuple(name_lens),
        eot_index=eot_index,
    )


class WordPrompts:
    """``freeze_prompts`` for draws from a fixed word list (the outlier pool): each word is
    tokenized on its first draw only."""

    def __init__(self, clip: Clip, words: Sequence[str], n_ctx: int) -> None:
        self.clip, self.words, self.n_ctx = clip, words, n_ctx
        self._ids: dict[int, torch.Tensor] = {}  # word index -> (L,) prompt token ids
        self._name_lens: dict[int, int] = {}

    def __call__(self, indices: Sequence[int]) -> FrozenPrompts:
        new = [i for i in dict.fromkeys(indices) if i not in self._ids]
        if new:
            ids, name_lens = _tokenize(self.clip, [self.words[i] for i in new], self.n_ctx)
            self._ids.update(zip(new, ids, strict=True))
            self._name_lens.update(zip(new, name_lens, strict=True))
        ids = torch.stack([self._ids[i] for i in indices])  # (n, L)
        return _freeze(self.clip, ids, [self._name_lens[i] for i in indices], self.n_ctx)


class PromptLearner(nn.Module):
    """Learned context ``ctx``: shared (n_ctx, D) or class-specific (n_cls, n_ctx, D).

    ``shared_prefix``: encode the leading tokens that every prompt shares once per call
    (``shared_length`` of them); exact, and only worth it with a shared context.
    """

    def __init__(
        self,
        *,
        ctx_init: torch.Tensor | None,
        n_ctx: int,
        width: int,
        class_position: str = "end",
        n_classes_specific: int = 0,
        init_std: float = 0.02,
        shared_prefix: bool = False,
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
        self.shared_prefix = shared_prefix
        self.packing = shared_prefix  # the text tower runs the packed path (create_prompt_learner)

    @property
    def class_specific(self) -> bool:
        return self.ctx.dim() == 3

    @property
    def shared_length(self) -> int:
        """Leading positions equal in every prompt: the start token and the shared context
        before the name (all of it at ``end``, the first half in the ``middle``)."""
        if self.class_specific or self.class_position == "front":
            return 1
        return 1 + (self.n_ctx if self.class_position == "end" else self.n_ctx // 2)

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
    shared_prefix: bool = False,
) -> PromptLearner:
    """A learner whose context starts at the embeddings of ``ctx_init`` (or random N(0, std^2)).

    With ``ctx_init`` its token count sets the context length and must match ``n_ctx``.
    ``shared_prefix`` falls back to the ordinary text path, with a warning naming the reason,
    where the text tower has another structure, and with an info line where only the start
    token is shared (class-specific context, class name at the front).
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
    learner = PromptLearner(
        ctx_init=init,
        n_ctx=n_ctx,
        width=clip.text.token_embedding.embedding_dim,
        class_position=class_position,
        n_classes_specific=n_classes_specific,
        init_std=init_std,
    ).to(clip.device)
    reason = text_packing.unsupported(clip.text)
    learner.packing = reason is None
    if shared_prefix and reason:
        log.warning(
            "prompt.shared_prefix off for %s: %s; using the ordinary text path", clip.name, reason
        )
    elif shared_prefix and learner.shared_length < 2:  # a choice of prompt, not a limitation
        where = "class-specific context" if n_classes_specific else "class name at the front"
        reason = f"{where}: no token but the start token is shared by every prompt"
        log.info("prompt.shared_prefix has no effect: %s", reason)
    learner.shared_prefix = shared_prefix and reason is None
    return learner


def encode_prompts(
    clip: Clip, learner: PromptLearner, frozen: FrozenPrompts, *, max_buckets: int = 1
) -> torch.Tensor:
    """L2-normalised text features of the learned prompts. -> (n, embed_dim)

    ``max_buckets > 1`` lets rows of very different token lengths go in separate groups of
    one packed pass (``workers.text_packing``), where the text tower allows it.
    """
    embeds = learner(frozen)  # (n, L, D)
    shared = learner.shared_length if learner.shared_prefix else 0
    lengths = frozen.eot_index + 1 - shared  # (n,) tokens each row runs itself
    buckets = text_packing.length_buckets(
        lengths, max_buckets=max_buckets if learner.packing else 1
    )
    if not shared and len(buckets) == 1:
        feats = encode_token_embeddings(clip.text, embeds, frozen.eot_index)  # (n, E)
    else:
        groups = (
            [(embeds, frozen.eot_index)]
            if len(buckets) == 1
            else [(embeds[rows], frozen.eot_index[rows]) for rows in buckets]
        )
        parts = text_packing.encode_packed(
            clip.text,
            prefix=embeds[:1, :shared] if shared else None,
            groups=[(emb[:, shared:], eot) for emb, eot in groups],
        )
        feats = text_packing.unbucket(parts, buckets)  # (n, E)
    return nn.functional.normalize(feats.float(), dim=-1)
