"""Zero-shot CLIP on the base-to-new protocol: the hand-written template, no training."""

from __future__ import annotations

from pathlib import Path

import torch

from workers.data import class_names, read_split, subsample_classes
from workers.features import encode_items
from workers.metrics import accuracy, expected_calibration_error, harmonic_mean
from workers.model import Clip

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
    items = read_split(root, dataset)[split]
    result: dict[str, float] = {}
    for subset in ("base", "new"):
        subset_items = subsample_classes(items, subset)
        image_feats, labels = encode_items(clip, subset_items)
        text_feats = clip.encode_texts([template.format(c) for c in class_names(subset_items)])
        probs = class_probs(image_feats, text_feats.cpu(), clip.logit_scale)
        result[f"{subset}_acc"] = 100 * accuracy(probs, labels)
        result[f"ece_{subset}"] = 100 * expected_calibration_error(probs, labels, n_bins)
    result["hm"] = harmonic_mean(result["base_acc"], result["new_acc"])
    result["ece"] = (result["ece_base"] + result["ece_new"]) / 2
    return result
