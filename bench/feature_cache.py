"""The shared feature cache against a CoOp-style loop that re-encodes every image each step.

    .venv/bin/python bench/feature_cache.py [--models toyclip ViT-B-16]

Both sides train the same CoOp configuration (CE only, same seed, shots, epochs) on a
10-base/10-new-class slice of the toy world; each runs in its own process so its wall time
and peak memory are its own. The cached trial runs twice: first on an empty cache (it pays
the fill: every view, validation and test image once), then again on the filled cache, as
every trial of a sweep after the fill does. The CoOp-style loop re-encodes each training
batch every step and the test images at the end (no per-epoch validation, as in CoOp).
The last line reads ``speedup: <ratio>x``: CoOp-style time over the warm cached trial's on
ViT-B-16, the papers' architecture, whose image tower dominates a CoOp step (toyclip's image
tower is tiny, so its ratio, printed above, is much smaller).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

N_CLASSES, SHOTS, EPOCHS, VIEWS = 20, 4, 10, 2
MODELS = {"toyclip": ("toyclip", "toyworld"), "ViT-B-16": ("ViT-B-16", None)}


def make_slice(root: Path, per_split: dict[str, int] | None = None) -> None:
    """A 20-class CoOp dataset ('toyslice') whose images are the toy world's own files.

    ``per_split``: images per class kept in each split (default: SHOTS train, 4 val, 8 test).
    """
    from workers.datasets import read_split
    from workers.paths import default_data_root

    splits = read_split(default_data_root(), "toyworld")
    keep = list(range(N_CLASSES // 2)) + list(range(32, 32 + N_CLASSES // 2))  # 10 base + 10 new
    relabel = {label: i for i, label in enumerate(keep)}
    per_split = per_split or {"train": SHOTS, "val": 4, "test": 8}
    out: dict[str, list] = {}
    for name, items in splits.items():
        counts: dict[int, int] = {}
        out[name] = []
        for item in items:
            if item.label in relabel and counts.get(item.label, 0) < per_split[name]:
                counts[item.label] = counts.get(item.label, 0) + 1
                out[name].append([str(item.path), relabel[item.label], item.classname])
    folder = root / "toyslice"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "split.json").write_text(json.dumps(out))


def register_slice() -> None:
    from workers.datasets import LAYOUTS, DatasetLayout

    LAYOUTS["toyslice"] = DatasetLayout("toyslice", "", "split.json")  # absolute image paths


def config(model: str, root: Path):
    from workers.config import TrialConfig

    name, pretrained = MODELS[model]
    return TrialConfig().with_overrides(
        {
            "model.name": name,
            "model.pretrained": pretrained,
            "data.dataset": "toyslice",
            "data.root": str(root),
            "data.shots": SHOTS,
            "data.n_views": VIEWS,
            "data.crop_scale_min": 0.5,
            "train.epochs": EPOCHS,
            "train.batch_size": 16,
            "method.pool_size": 100,
        }
    )


def run_cached(model: str, root: Path, cache: Path) -> dict:
    from workers.trial import run_trial

    os.environ["ORCH_CACHE"] = str(cache)  # the trial reads the cache the environment names
    return run_trial(config(model, root)).metrics


def run_coop_style(model: str, root: Path) -> dict:
    """CoOp's loop: every step loads, augments and encodes its images through the image tower."""
    import math

    import torch
    import torch.nn.functional as F

    from workers.datasets import read_split
    from workers.features import load_image, train_transform
    from workers.metrics import accuracy, expected_calibration_error, harmonic_mean
    from workers.model import create_clip
    from workers.prompts import create_prompt_learner, encode_prompts, freeze_prompts
    from workers.splits import class_names, few_shot, subsample_classes

    cfg = config(model, root)
    clip = create_clip(cfg.model.name, pretrained=cfg.model.pretrained)
    splits = read_split(root, "toyslice")
    train = few_shot(subsample_classes(splits["train"], "base"), SHOTS, cfg.train.seed)
    names = {s: class_names(subsample_classes(splits["test"], s)) for s in ("base", "new")}
    torch.manual_seed(cfg.train.seed)
    learner = create_prompt_learner(clip, n_ctx=4, ctx_init="a photo of a")
    frozen = {s: freeze_prompts(clip, names[s], 4) for s in names}
    opt = torch.optim.SGD([learner.ctx], lr=cfg.train.lr, momentum=0.9)
    augment = train_transform(clip, cfg.data.crop_scale_min)
    gen = torch.Generator().manual_seed(cfg.train.seed)

    def evaluate(items_by_subset) -> dict:
        out = {}
        for subset, items in items_by_subset.items():
            with torch.no_grad():
                feats = clip.encode_images(
                    torch.stack([load_image(i.path, clip.preprocess) for i in items])
                )
                probs = (
                    clip.logit_scale * feats @ encode_prompts(clip, learner, frozen[subset]).T
                ).softmax(-1)
            labels = torch.tensor([i.label for i in items])
            out[f"{subset}_acc"] = 100 * accuracy(probs, labels)
            out[f"ece_{subset}"] = 100 * expected_calibration_error(probs, labels)
        out["hm"] = harmonic_mean(out["base_acc"], out["new_acc"])
        return out

    for epoch in range(EPOCHS):
        lr = (
            cfg.train.warmup_lr
            if epoch < 1
            else 0.5 * cfg.train.lr * (1 + math.cos(math.pi * (epoch - 1) / (EPOCHS - 1)))
        )
        opt.param_groups[0]["lr"] = lr
        order = torch.randperm(len(train), generator=gen)
        for start in range(0, len(train), cfg.train.batch_size):
            batch = [train[int(i)] for i in order[start : start + cfg.train.batch_size]]
            with torch.no_grad():
                img = clip.encode_images(torch.stack([load_image(i.path, augment) for i in batch]))
            logits = clip.logit_scale * img @ encode_prompts(clip, learner, frozen["base"]).T
            loss = F.cross_entropy(logits, torch.tensor([i.label for i in batch]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    test = {s: subsample_classes(splits["test"], s) for s in names}
    return {f"test_{k}": v for k, v in evaluate(test).items()}


def side(args) -> None:
    register_slice()
    start = time.perf_counter()
    if args.side == "cached":
        metrics = run_cached(args.model, Path(args.root), Path(args.cache))
    else:
        metrics = run_coop_style(args.model, Path(args.root))
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "metrics": metrics}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--side", choices=("cached", "coop"))
    parser.add_argument("--model")
    parser.add_argument("--root")
    parser.add_argument("--cache")
    args = parser.parse_args()
    if args.side:
        return side(args)
    ratios = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        make_slice(root)
        for model in args.models:
            results = {}
            for which in ("cached", "warm", "coop"):
                # empty for the cold run, which pays the fill; the warm run reuses it
                cache = Path(tmp) / f"cache-{model}"
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--side",
                        "cached" if which == "warm" else which,
                        "--model",
                        model,
                        "--root",
                        str(root),
                        "--cache",
                        str(cache),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                results[which] = json.loads(out.stdout.strip().splitlines()[-1])
            ratio = results["coop"]["seconds"] / results["warm"]["seconds"]
            cold = results["coop"]["seconds"] / results["cached"]["seconds"]
            ratios[model] = ratio
            print(f"{model}: {N_CLASSES // 2} base classes, {SHOTS} shots, {EPOCHS} epochs")
            for which, label in (
                ("cached", "cache (cold)"),
                ("warm", "cache (warm)"),
                ("coop", "CoOp-style"),
            ):
                r = results[which]
                shown = "  ".join(
                    f"{k[5:]} {r['metrics'][k]:.1f}"
                    for k in ("test_base_acc", "test_new_acc", "test_hm")
                )
                print(f"  {label:<13} {r['seconds']:7.1f} s  peak {r['peak_mb']:6.0f} MB  {shown}")
            print(
                f"  ratio CoOp-style / cached: {ratio:.1f}x warm, {cold:.1f}x cold (fill included)"
            )
    print(f"speedup: {ratios.get('ViT-B-16', next(iter(ratios.values()))):.1f}x")


if __name__ == "__main__":
    main()
