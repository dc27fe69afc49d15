"""Zero-shot CLIP on the base-to-new protocol: the hand-written template, no training."""

from __future__ import annotations

from pathlib import Path

import torch

from workers.datasets import read_split
from workers.errors import ConfigError
from workers.features import encode_items
from workers.metrics import base_new_metrics
from workers.model import Clip, create_clip, resolve_device
from workers.splits import dataset_labels, subsample_classes, subset_names

DEFAULT_TEMPLATE = "a photo of a {}."


def class_probs(
    image_feats: torch.Tensor, text_feats: torch.Tensor, logit_scale: float
) -> torch.Tensor:
    """Softmax over cosine similarities / temperature. (N, E), (C, E) -> (N, C)"""
    return (logit_scale * image_feats @ text_feats.T).softmax(dim=-1)


def evaluate_zero_shot(
    clip: Clip,
    *,
    dataset: str,
    root: str | Path,
    template: str = DEFAULT_TEMPLATE,
    split: str = "test",
    n_bins: int = 10,
) -> dict[str, float]:
    """Base and new accuracy, HM and ECE (all in %) of ``template`` on ``split``."""
    splits = read_split(root, dataset)
    probs, labels = {}, {}
    for subset in ("base", "new"):
        subset_items = subsample_classes(splits[split], subset, dataset_labels(splits))
        image_feats, labels[subset] = encode_items(clip, subset_items)
        names = subset_names(splits, subset)
        text_feats = clip.encode_texts([template.format(c) for c in names])
        probs[subset] = class_probs(image_feats, text_feats.cpu(), clip.logit_scale)
    return base_new_metrics(probs, labels, n_bins)


def evaluate_zero_shot_cli(
    *,
    dataset: str,
    root: Path,
    model: str,
    pretrained: str | None,
    checkpoint: Path | None,
    template: str,
    split: str,
    device: str,
) -> dict:
    """``orch zero-shot``: build the model, evaluate, and describe what was evaluated."""
    if template.count("{}") != 1:
        raise ConfigError(
            f"template must contain exactly one '{{}}' for the class name, got {template!r}"
        )
    clip = create_clip(
        model, pretrained=pretrained, checkpoint=checkpoint, device=resolve_device(device)
    )
    metrics = evaluate_zero_shot(clip, dataset=dataset, root=root, template=template, split=split)
    return {
        "dataset": dataset,
        "model": model,
        "pretrained": pretrained if checkpoint is None else str(checkpoint),
        "template": template,
        "split": split,
        **{k: round(v, 2) for k, v in metrics.items()},
    }
