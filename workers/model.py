"""The one door to open_clip: create models and tokenizers, and expose the text path.

Nothing else in the project imports open_clip. A model comes from a registry name plus a
pretrained tag (``ViT-B-16`` / ``openai``), a registry name plus a local checkpoint file,
or one of the project's own configs (``toyclip``, whose ``toyworld`` weights ship in
``workers/assets``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import open_clip
import torch
from torch import nn

from workers.errors import ConfigError, ModelError
from workers.paths import ASSET_DIR, MODEL_CONFIG_DIR

if TYPE_CHECKING:
    from workers.config import ModelConfig

log = logging.getLogger(__name__)

# Weights the project makes itself: (model name, tag) -> file in workers/assets.
PROJECT_WEIGHTS: dict[tuple[str, str], Path] = {
    ("toyclip", "toyworld"): ASSET_DIR / "toyclip_toyworld.pt",
}

_registered = False


def register_project_configs() -> None:
    """Make the project's model configs (``workers/model_configs/*.json``) known to open_clip."""
    global _registered
    if not _registered:
        open_clip.add_model_config(MODEL_CONFIG_DIR)
        _registered = True


def list_models() -> list[str]:
    register_project_configs()
    return open_clip.list_models()


@dataclass(frozen=True)
class TextTower:
    """The pieces of a CLIP text encoder that a prompt learner feeds embeddings through."""

    token_embedding: nn.Embedding
    positional_embedding: torch.Tensor  # (context_length, width)
    transformer: nn.Module
    ln_final: nn.Module
    text_projection: torch.Tensor | nn.Linear | None
    attn_mask: torch.Tensor | None  # (context_length, context_length), additive causal mask
    pool_type: str
    eos_id: int | None

    @property
    def context_length(self) -> int:
        return self.positional_embedding.shape[0]


def text_tower(model: nn.Module) -> TextTower:
    """Find the text path in a CLIP (tower on the model) or CustomTextCLIP (``model.text``)."""
    owner = getattr(model, "text", model)
    if not hasattr(owner, "token_embedding") or getattr(owner, "cls_emb", None) is not None:
        raise ModelError(
            f"{type(model).__name__} has no CLIP-style text transformer (token embedding, causal "
            "mask, end-of-text pooling); prompt learning needs one: pick a CLIP/ViT model config"
        )
    pool_type = getattr(owner, "text_pool_type", getattr(owner, "pool_type", "argmax"))
    if pool_type not in ("argmax", "eos"):
        raise ModelError(f"text pooling '{pool_type}' is not supported; need 'argmax' or 'eos'")
    return TextTower(
        token_embedding=owner.token_embedding,
        positional_embedding=owner.positional_embedding,
        transformer=owner.transformer,
        ln_final=owner.ln_final,
        text_projection=owner.text_projection,
        attn_mask=owner.attn_mask,
        pool_type=pool_type,
        eos_id=getattr(owner, "text_eos_id", getattr(owner, "eos_id", None)),
    )


def end_of_text_index(tower: TextTower, token_ids: torch.Tensor) -> torch.Tensor:
    """Position of the pooled (end-of-text) token of each row. (N, L) -> (N,)"""
    if tower.pool_type == "argmax":  # the end-of-text id is the largest in CLIP's vocabulary
        return token_ids.argmax(dim=-1)
    return (token_ids == tower.eos_id).int().argmax(dim=-1)


def encode_token_embeddings(
    tower: TextTower, embeddings: torch.Tensor, eot_index: torch.Tensor
) -> torch.Tensor:
    """Run embedded tokens through the text transformer; unnormalised features.

    embeddings: (N, L, width), L <= context_length; eot_index: (N,) -> (N, embed_dim).
    With a causal mask, positions after the last end-of-text token cannot influence it, so the
    sequence is cut there: same features, a fraction of the cost.
    """
    if tower.attn_mask is not None:
        embeddings = embeddings[:, : int(eot_index.max()) + 1]
    length = embeddings.shape[1]
    cast_dtype = tower.transformer.get_cast_dtype()
    x = embeddings.to(cast_dtype) + tower.positional_embedding[:length].to(cast_dtype)  # (N, L, w)
    mask = None if tower.attn_mask is None else tower.attn_mask[:length, :length]
    x = tower.transformer(x, attn_mask=mask)  # (N, L, w)
    x = tower.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), eot_index]  # (N, w)
    return project_pooled(tower, x)


def project_pooled(tower: TextTower, pooled: torch.Tensor) -> torch.Tensor:
    """The text projection of pooled end-of-text states. (N, w) -> (N, embed_dim)"""
    if isinstance(tower.text_projection, nn.Linear):
        return tower.text_projection(pooled)
    if tower.text_projection is not None:
        return pooled @ tower.text_projection
    return pooled


@dataclass
class Clip:
    """A frozen CLIP with its tokenizer, evaluation transform and text path."""

    name: str
    pretrained: str | None
    model: nn.Module
    tokenizer: Callable[[Sequence[str]], torch.Tensor]
    preprocess: Callable
    text: TextTower

    @property
    def device(self) -> torch.device:
        return self.text.positional_embedding.device

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.exp().clamp(max=100))

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        return self.tokenizer(list(texts)).to(self.device)  # (N, context_length)

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """L2-normalised features of written prompts. -> (N, embed_dim)

        Batches are formed in order of token length, so a short prompt is never cut at a
        long one's end-of-text token; the features come back in the order of ``texts``.
        """
        ids = self.tokenize(texts)  # (N, L)
        eot = end_of_text_index(self.text, ids)  # (N,)
        order = eot.argsort(stable=True)  # (N,)
        chunks = []
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            emb = self.text.token_embedding(ids[rows])  # (n, L, width)
            feats = encode_token_embeddings(self.text, emb, eot[rows])
            chunks.append(nn.functional.normalize(feats.float(), dim=-1))
        return torch.cat(chunks)[order.argsort()]  # back to the order of texts

    @torch.no_grad()
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised features of preprocessed images. (N, 3, H, W) -> (N, embed_dim)"""
        feats = self.model.encode_image(images.to(self.device))
        return nn.functional.normalize(feats.float(), dim=-1)


@contextmanager
def _quiet_open_clip():
    """Silence open_clip's root-logger lines that the adapter restates or that mislead:
    'no weights loaded' before the project loads its own checkpoint, and download failures
    that become one ModelError line naming the fix."""
    restated = ("No pretrained weights loaded", "Failed to download", "Pretrained tag or path")

    def drop(record: logging.LogRecord) -> bool:
        return not any(text in record.getMessage() for text in restated)

    root = logging.getLogger()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def check_name(name: str) -> None:
    if name not in list_models():
        close = [m for m in list_models() if name.lower().replace("/", "-") in m.lower()][:5]
        hint = (
            f" (did you mean {', '.join(close)}?)" if close else " (see `open_clip.list_models()`)"
        )
        raise ModelError(f"unknown model '{name}'{hint}")


def weights_file(name: str, pretrained: str | None, checkpoint: str | Path | None) -> Path | None:
    """The local file to load, or None when open_clip resolves a tag itself."""
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise ModelError(f"checkpoint file for model '{name}' not found: {path}")
        return path
    if pretrained and (name, pretrained) in PROJECT_WEIGHTS:
        path = PROJECT_WEIGHTS[(name, pretrained)]
        if not path.is_file():
            raise ModelError(
                f"project weights {name}/{pretrained} missing at {path}: regenerate them with "
                "`python -m workers.toyworld.pretrain`"
            )
        return path
    if pretrained and pretrained not in open_clip.list_pretrained_tags_by_model(name):
        own = [tag for (model, tag) in PROJECT_WEIGHTS if model == name]
        tags = own + open_clip.list_pretrained_tags_by_model(name)
        raise ModelError(
            f"unknown pretrained tag '{pretrained}' for model '{name}' (known: "
            f"{', '.join(tags) or 'none'}); or pass a local file with model.checkpoint / "
            "--checkpoint"
        )
    return None


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present; an explicit ``cuda`` without a GPU is a user error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device '{device}' requested but no CUDA GPU is visible; use cpu or auto"
        )
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device '{device}'; use cpu, cuda or auto") from exc


def autocast(device: torch.device):
    """bf16 autocast on CUDA (the text tower's matmuls), plain fp32 on CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


_LOADED: dict[tuple, Clip] = {}  # this process's frozen models, kept across trials


def load_clip(model: ModelConfig) -> Clip:
    """The frozen CLIP a trial's ``model`` section names, on its device.

    A worker process that Ray reuses for the next trial keeps it: the model is frozen (every
    trial's learned parts live outside it), so only a changed checkpoint file builds it again.
    """
    device = resolve_device(model.device)
    stamp = None
    if model.checkpoint and Path(model.checkpoint).is_file():
        stat = Path(model.checkpoint).stat()
        stamp = (stat.st_size, stat.st_mtime_ns)
    key = (model.name, model.pretrained, model.checkpoint, stamp, str(device))
    if key not in _LOADED:
        _LOADED.clear()  # one model per process: a sweep uses one, and they are large
        _LOADED[key] = create_clip(
            model.name, pretrained=model.pretrained, checkpoint=model.checkpoint, device=device
        )
    return _LOADED[key]


def create_clip(
    name: str,
    *,
    pretrained: str | None = None,
    checkpoint: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> Clip:
    """Create a frozen CLIP in eval mode.

    ``pretrained`` is an open_clip tag or a project tag; ``checkpoint`` a local state-dict file
    (loaded with ``weights_only=True``) that wins over the tag. Neither: random weights.
    """
    check_name(name)
    weights = weights_file(name, pretrained, checkpoint)
    tag = pretrained if weights is None else None
    try:
        # random weights come from a fixed seed: runs, processes and the feature cache agree
        with _quiet_open_clip(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model, _, preprocess = open_clip.create_model_and_transforms(
                name, pretrained=tag, device=device, weights_only=True
            )
    except Exception as exc:  # open_clip reports failed downloads as bare RuntimeErrors
        raise ModelError(
            f"cannot obtain weights for model '{name}' pretrained '{pretrained}' "
            f"({exc.__class__.__name__}:"
            f" no network?): download the checkpoint elsewhere and pass it with model.checkpoint / "
            "--checkpoint PATH"
        ) from exc
    if weights is not None:
        try:
            open_clip.load_checkpoint(model, str(weights), strict=True, weights_only=True)
        except Exception as exc:
            raise ModelError(
                f"checkpoint {weights} does not fit model '{name}': "
                f"{str(exc).splitlines()[0][:200]}"
            ) from exc
    model.to(device).eval().requires_grad_(False)
    return Clip(
        name=name,
        pretrained=pretrained if checkpoint is None else str(checkpoint),
        model=model,
        tokenizer=open_clip.get_tokenizer(name),
        preprocess=preprocess,
        text=text_tower(model),
    )


@functools.cache
def tokenizer_words() -> tuple[str, ...]:
    """Whole words of CLIP's BPE vocabulary (the tokenizer open_clip ships): end-of-word tokens
    of at least three ASCII letters, in vocabulary order (roughly by corpus frequency)."""
    from open_clip.tokenizer import SimpleTokenizer

    words = []
    for token in SimpleTokenizer().encoder:
        word = token.removesuffix("</w>")
        if word != token and len(word) >= 3 and word.isascii() and word.isalpha():
            words.append(word.lower())
    return tuple(dict.fromkeys(words))
