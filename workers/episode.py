"""Everything a trial needs that stays fixed while it trains: features, names, outlier pool.

Image features come from the shared feature cache (the image tower is frozen), so every
epoch of every trial of a sweep reuses them; evaluation is then a matrix product.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from workers.cache import cached_tensors, file_digest
from workers.config import TrialConfig
from workers.datasets import Datum, read_split
from workers.features import encode_items, items_fingerprint, train_transform
from workers.model import PROJECT_WEIGHTS, Clip
from workers.paths import cache_dir as default_cache_dir
from workers.paths import default_data_root
from workers.splits import dataset_labels, few_shot, subsample_classes, subset_names
from workers.vocab import OutlierPool, build_pool

log = logging.getLogger(__name__)


@dataclass
class Split:
    feats: torch.Tensor  # (N, E) L2-normalised image features
    labels: torch.Tensor  # (N,)


@dataclass
class Episode:
    base_names: list[str]
    new_names: list[str]
    train_views: torch.Tensor  # (n_views, N, E) augmented views of the few-shot base images
    train_labels: torch.Tensor  # (N,)
    val: dict[str, Split]  # "base", "new"
    test: dict[str, Split]
    zero_shot_base: torch.Tensor  # (C_b, E) template features of the base names
    zero_shot_new: torch.Tensor  # (C_n, E)
    pool: OutlierPool
    pool_zero_shot: torch.Tensor  # (P, E) template features of the outlier words


def model_identity(cfg: TrialConfig) -> dict:
    """What determines the model's weights, for cache keys."""
    m = cfg.model
    weights = m.checkpoint or PROJECT_WEIGHTS.get((m.name, m.pretrained or ""))
    return {
        "name": m.name,
        "pretrained": m.pretrained,
        "weights": file_digest(weights) if weights else None,
    }


def _encode(clip: Clip, items: list[Datum], cache: Path, key: dict, transform=None) -> Split:
    def compute() -> dict[str, torch.Tensor]:
        feats, labels = encode_items(clip, items, transform=transform)
        return {"feats": feats, "labels": labels}

    tensors = cached_tensors(cache, "images", {**key, "items": items_fingerprint(items)}, compute)
    return Split(tensors["feats"], tensors["labels"])


def _train_views(clip: Clip, items: list[Datum], cfg: TrialConfig, cache: Path, key: dict):
    transform = train_transform(clip, cfg.data.crop_scale_min)
    fingerprint = items_fingerprint(items)  # one stat() per image, shared by every view
    views = []
    for view in range(cfg.data.n_views):
        view_key = {**key, "transform": repr(transform), "view": view}

        def compute(view: int = view) -> dict[str, torch.Tensor]:
            torch.manual_seed(10_000 + view)  # the augmentation draws of this view
            feats, labels = encode_items(clip, items, transform=transform)
            return {"feats": feats, "labels": labels}

        parts = {**view_key, "items": fingerprint}
        views.append(cached_tensors(cache, "images", parts, compute)["feats"])
    return torch.stack(views)  # (n_views, N, E)


def text_features(clip: Clip, names: list[str], template: str, cache: Path, key: dict):
    parts = {**key, "template": template, "names": names}
    return cached_tensors(
        cache,
        "texts",
        parts,
        lambda: {"feats": clip.encode_texts([template.format(n) for n in names])},
    )["feats"]


def prepare_episode(clip: Clip, cfg: TrialConfig) -> Episode:
    """Check every input first (shots, vocabulary), then fill or read the shared caches."""
    cache = default_cache_dir()
    root = cfg.data.root or default_data_root()
    splits = read_split(root, cfg.data.dataset)
    seed, val_shots = cfg.train.seed, min(cfg.data.shots, 4)
    labels = dataset_labels(splits)  # one base/new boundary for every split
    base_train = few_shot(subsample_classes(splits["train"], "base"), cfg.data.shots, seed)
    val_items = {
        s: few_shot(subsample_classes(splits["val"], s, labels), val_shots, seed, split="val")
        for s in ("base", "new")
    }
    base_names, new_names = subset_names(splits, "base"), subset_names(splits, "new")
    key = {"model": model_identity(cfg), "dataset": cfg.data.dataset}

    def encode(names):
        return text_features(clip, list(names), cfg.data.template, cache, {"model": key["model"]})

    pool = OutlierPool(cfg.method.outlier_vocab, (), 0)  # CoOp and KgCoOp draw no outliers
    if cfg.method.lam or cfg.method.mixture:
        pool = build_pool(
            cfg.method.outlier_vocab,
            base_names=base_names,
            new_names=new_names,
            encode=encode,
            near_ood_k=cfg.method.near_ood_k,
            pool_size=cfg.method.pool_size,
            seed=seed,
        )
    if pool.new_class_overlap:
        overlap = pool.new_class_overlap
        log.info("outlier pool %s: %d words equal a new class name", pool.name, overlap)
    eval_key = {**key, "transform": repr(clip.preprocess)}
    test_items = {s: subsample_classes(splits["test"], s, labels) for s in ("base", "new")}
    return Episode(
        base_names=base_names,
        new_names=new_names,
        train_views=_train_views(clip, base_train, cfg, cache, {**key, "split": "train"}),
        train_labels=torch.tensor([d.label for d in base_train]),
        val={s: _encode(clip, items, cache, eval_key) for s, items in val_items.items()},
        test={s: _encode(clip, items, cache, eval_key) for s, items in test_items.items()},
        zero_shot_base=encode(base_names),
        zero_shot_new=encode(new_names),
        pool=pool,
        pool_zero_shot=encode(pool.words) if pool.words else torch.empty(0, 0),
    )
