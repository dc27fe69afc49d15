"""Cross-dataset transfer in the toy world, for bench/toy_study.py (a per-target evaluation
kept in the study script until trials support it).

METHOD.md: learn on all classes of the source (16 shots), evaluate on each target's test set
over all of its classes; in the mixture ``pi_in`` applies to source classes and ``pi_out`` to
every target class. ``hm = HM(source_acc, mean target acc)``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.baselines import baseline_overrides  # noqa: E402
from orchestrator.spec import load_spec  # noqa: E402
from workers.config import TrialConfig  # noqa: E402
from workers.datasets import read_split  # noqa: E402
from workers.episode import (  # noqa: E402
    Episode,
    _encode,
    _train_views,
    model_identity,
    text_features,
)
from workers.metrics import accuracy, expected_calibration_error, harmonic_mean  # noqa: E402
from workers.model import load_clip  # noqa: E402
from workers.paths import cache_dir, default_data_root  # noqa: E402
from workers.prompts import freeze_prompts  # noqa: E402
from workers.splits import class_names, few_shot  # noqa: E402
from workers.toyworld.family import SOURCE  # noqa: E402
from workers.trial import Trainer, total_epochs  # noqa: E402
from workers.vocab import OutlierPool, build_pool  # noqa: E402

METHODS = ("zero_shot", "coop", "cocoa_mix")


def source_episode(clip, cfg: TrialConfig, cache: Path) -> Episode:
    """An episode whose 'base' classes are all of the source's classes."""
    root = cfg.data.root or default_data_root()
    splits = read_split(root, SOURCE)
    seed = cfg.train.seed
    train = few_shot(splits["train"], cfg.data.shots, seed)
    val = few_shot(splits["val"], min(cfg.data.shots, 4), seed, split="val")
    names = class_names(splits["test"])
    key = {"model": model_identity(cfg), "dataset": f"{SOURCE}:all"}

    def encode(words):
        return text_features(clip, list(words), cfg.data.template, cache, {"model": key["model"]})

    pool = OutlierPool(cfg.method.outlier_vocab, (), 0)
    if cfg.method.lam or cfg.method.mixture:
        pool = build_pool(cfg.method.outlier_vocab, base_names=names, new_names=[], encode=encode,
                          near_ood_k=cfg.method.near_ood_k, pool_size=cfg.method.pool_size,
                          seed=seed)  # fmt: skip
    eval_key = {**key, "transform": repr(clip.preprocess)}
    val_split = _encode(clip, val, cache, eval_key)
    test_split = _encode(clip, splits["test"], cache, eval_key)
    zero = encode(names)
    return Episode(
        base_names=names,
        new_names=names,
        train_views=_train_views(clip, train, cfg, cache, {**key, "split": "train"}),
        train_labels=torch.tensor([d.label for d in train]),
        val={"base": val_split, "new": val_split},
        test={"base": test_split, "new": test_split},
        zero_shot_base=zero,
        zero_shot_new=zero,
        pool=pool,
        pool_zero_shot=encode(pool.words) if pool.words else torch.empty(0, 0),
    )


def transfer(spec_path: str, method: str, seed: int, targets: list[str]) -> dict[str, float]:
    overrides = {**baseline_overrides(method), "data.dataset": SOURCE, "train.seed": seed}
    cfg = load_spec(spec_path, overrides).trial
    cache = cache_dir()
    clip = load_clip(cfg.model)
    trainer = Trainer(clip, cfg, source_episode(clip, cfg, cache))
    for epoch in range(total_epochs(cfg)):
        trainer.train_epoch(epoch) if epoch < cfg.train.epochs else trainer.weight_epoch()
    out = {"source": trainer.evaluate(trainer.ep.test)["base_acc"]}
    root = cfg.data.root or default_data_root()
    key = {"model": model_identity(cfg)}
    for target in targets:
        items = read_split(root, target)["test"]
        split = _encode(clip, items, cache, {**key, "dataset": target,
                                             "transform": repr(clip.preprocess)})  # fmt: skip
        names = class_names(items)
        trainer.frozen_new = freeze_prompts(clip, names, cfg.prompt.n_ctx)
        trainer.ep.zero_shot_new = text_features(clip, names, cfg.data.template, cache, key)
        probs = trainer.probs(split.feats, "new").cpu()  # pi_out for every target class
        out[target] = 100 * accuracy(probs, split.labels)
        out[f"ece_{target}"] = 100 * expected_calibration_error(
            probs, split.labels, cfg.train.n_bins
        )
    out["target"] = statistics.mean(out[t] for t in targets)
    out["ece_target"] = statistics.mean(out[f"ece_{t}"] for t in targets)
    out["hm"] = harmonic_mean(out["source"], out["target"])
    return out


def cross_dataset_table(spec_path: str, seeds: list[int], targets: list[str]) -> dict:
    rows: dict[str, list[dict]] = {}
    for method in METHODS:
        for seed in seeds[:1] if method == "zero_shot" else seeds:
            start = time.time()
            rows.setdefault(method, []).append(transfer(spec_path, method, seed, targets))
            print(f"cross {method} seed {seed}: {rows[method][-1]} ({time.time() - start:.0f}s)",
                  file=sys.stderr, flush=True)  # fmt: skip
    cols = ["source", *targets, "target", "hm", "ece_target"]
    print("| method | " + " | ".join(c.replace("ece_target", "ECE targets") for c in cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for method, runs in rows.items():
        cells = []
        for c in cols:
            values = [r[c] for r in runs]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.1f} ± {spread:.1f}")
        print(f"| {method} | " + " | ".join(cells) + " |")
    return rows
