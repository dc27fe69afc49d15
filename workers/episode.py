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
from workers.datasets import Datum, mirror_invariant, read_split
from workers.features import encode_items, items_fingerprint, train_transform
from workers.image_outliers import image_outlier_items
from workers.model import PROJECT_WEIGHTS, Clip
from workers.paths import cache_dir as default_cache_dir
from workers.paths import default_data_root
from workers.protocol import Cell
from workers.splits import base_new_items, class_names, dataset_labels, few_shot, subsample_classes
from workers.vocab import OutlierPool, build_pool

log = logging.getLogger(__name__)


@dataclass
class Split:
    feats: torch.Tensor  # (N, E) L2-normalised image features
    labels: torch.Tensor  # (N,)


@dataclass
class LabelSet:
    """Classes predicted among themselves: an image of the set is scored over its labels only."""

    names: list[str]
    inside: bool  # the trained classes (mixture weights pi_in); every other set uses pi_out
    zero_shot: torch.Tensor  # (C, E) template features of the names
    val: Split
    test: Split


@dataclass
class Episode:
    # base-to-new: "base" (trained) and "new"; cross-dataset: the source (trained), then each
    # target by its dataset name
    sets: dict[str, LabelSet]
    transfer: bool  # cross-dataset: metrics compare the source with its targets
    train_views: torch.Tensor  # (n_views, N, E) augmented views of the few-shot trained images
    train_labels: torch.Tensor  # (N,)
    pool: OutlierPool
    pool_zero_shot: torch.Tensor  # (P, E) template features of the outlier words
    image_outliers: torch.Tensor  # (Q, E) features of visual DOR's outlier images, or (0, 0)

    @property
    def trained(self) -> LabelSet:
        return next(s for s in self.sets.values() if s.inside)


def model_identity(cfg: TrialConfig) -> dict:
    """What determines the model's weights, for cache keys."""
    m = cfg.model
    weights = m.checkpoint or PROJECT_WEIGHTS.get((m.name, m.pretrained or ""))
    return {
        "name": m.name,
        "pretrained": m.pretrained,
        "weights": file_digest(weights) if weights else None,
    }


def encode_split(clip: Clip, items: list[Datum], cache: Path, key: dict, transform=None) -> Split:
    def compute() -> dict[str, torch.Tensor]:
        feats, labels = encode_items(clip, items, transform=transform)
        return {"feats": feats, "labels": labels}

    tensors = cached_tensors(cache, "images", {**key, "items": items_fingerprint(items)}, compute)
    return Split(tensors["feats"], tensors["labels"])


def augmented_views(clip: Clip, items: list[Datum], cfg: TrialConfig, cache: Path, key: dict):
    transform = train_transform(
        clip, cfg.data.crop_scale_min, hflip=mirror_invariant(cfg.data.dataset)
    )
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


@dataclass
class _Classes:
    """One label set's items before any feature is computed."""

    names: list[str]
    val: list[Datum]
    test: list[Datum]


def _base_to_new(splits, cfg: TrialConfig, pseudo_new: bool) -> tuple[list[Datum], dict]:
    seed, val_shots = cfg.train.seed, min(cfg.data.shots, 4)
    sets = {}
    for subset in ("base", "new"):
        items = base_new_items(splits, subset, pseudo_new=pseudo_new)
        val = few_shot(items["val"], val_shots, seed, split="val")
        sets[subset] = _Classes(class_names(items["train"]), val, items["test"])
    train = base_new_items(splits, "base", pseudo_new=pseudo_new)["train"]
    return few_shot(train, cfg.data.shots, seed), sets


def _all_classes(splits, cfg: TrialConfig) -> _Classes:
    items = {
        name: subsample_classes(part, "all", dataset_labels(splits))
        for name, part in splits.items()
    }
    val = few_shot(items["val"], min(cfg.data.shots, 4), cfg.train.seed, split="val")
    return _Classes(class_names(items["train"]), val, items["test"])


def _episode_items(cfg: TrialConfig, cell: Cell, root) -> tuple[list[Datum], dict]:
    """The trained few-shot items and every label set's items, in order: trained first."""
    splits = read_split(root, cfg.data.dataset)
    if cell.targets:  # learn on every source class; each target is a label set of its own
        train = few_shot(subsample_classes(splits["train"], "all"), cfg.data.shots, cfg.train.seed)
        classes = {cfg.data.dataset: _all_classes(splits, cfg)}
        for target in cell.targets:
            classes[target] = _all_classes(read_split(root, target), cfg)
        return train, classes
    return _base_to_new(splits, cfg, cell.pseudo_new)


def planned_images(cfg: TrialConfig, cell: Cell) -> int:
    """How many images ``prepare_episode`` reads for ``cell``, cached or not: every view of
    the trained items, each label set's validation and test items, the outlier images."""
    root = cfg.data.root or default_data_root()
    train, classes = _episode_items(cfg, cell, root)
    count = cfg.data.n_views * len(train) + sum(len(c.val) + len(c.test) for c in classes.values())
    if cfg.method.lam_visual:
        names = next(iter(classes.values())).names
        count += len(
            image_outlier_items(
                cfg.method.image_outliers, root=root, dataset=cfg.data.dataset, base_names=names
            )
        )
    return count


def prepare_episode(clip: Clip, cfg: TrialConfig, cell: Cell | None = None) -> Episode:
    """Check every input first (shots, vocabulary), then fill or read the shared caches.

    ``cell`` (default: ``cfg``'s own dataset and seed, base-to-new) says which classes are
    trained and evaluated; a pseudo-new cell reads nothing of the real new classes.
    """
    cache = default_cache_dir()
    root = cfg.data.root or default_data_root()
    cell = cell or Cell(cfg.data.dataset, cfg.train.seed)
    train, classes = _episode_items(cfg, cell, root)
    trained, *others = classes
    model = model_identity(cfg)

    def encode(names):
        return text_features(clip, list(names), cfg.data.template, cache, {"model": model})

    pool = OutlierPool(cfg.method.outlier_vocab, (), 0)  # CoOp and KgCoOp draw no outliers
    if cfg.method.lam or cfg.method.mixture:
        pool = build_pool(
            cfg.method.outlier_vocab,
            base_names=classes[trained].names,
            new_names=[n for name in others for n in classes[name].names],  # diagnostic only
            encode=encode,
            near_ood_k=cfg.method.near_ood_k,
            pool_size=cfg.method.pool_size,
            seed=cfg.train.seed,
        )
    if pool.new_class_overlap:
        overlap = pool.new_class_overlap
        log.info("outlier pool %s: %d words equal an evaluated class name", pool.name, overlap)
    key = {"model": model, "dataset": cfg.data.dataset}
    eval_key = {**key, "transform": repr(clip.preprocess)}
    image_outliers = torch.empty(0, 0)
    if cfg.method.lam_visual:
        items = image_outlier_items(
            cfg.method.image_outliers,
            root=root,
            dataset=cfg.data.dataset,
            base_names=classes[trained].names,
        )
        outlier_key = {**eval_key, "dataset": f"outliers:{cfg.method.image_outliers}"}
        image_outliers = encode_split(clip, items, cache, outlier_key).feats
    sets = {
        name: LabelSet(
            names=c.names,
            inside=name == trained,
            zero_shot=encode(c.names),
            val=encode_split(clip, c.val, cache, eval_key),
            test=encode_split(clip, c.test, cache, eval_key),
        )
        for name, c in classes.items()
    }
    return Episode(
        sets=sets,
        transfer=bool(cell.targets),
        train_views=augmented_views(clip, train, cfg, cache, {**key, "split": "train"}),
        train_labels=torch.tensor([d.label for d in train]),
        pool=pool,
        pool_zero_shot=encode(pool.words) if pool.words else torch.empty(0, 0),
        image_outliers=image_outliers,
    )
