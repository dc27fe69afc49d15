"""A sweep of 8 trials end to end: the project's trial path against a CoOp-style loop.

    .venv/bin/python bench/trial_speed.py [--quick] [--models toyclip ViT-B-16]

The sweep is a 2 x 2 x 2 grid (``train.lr`` 0.002 / 0.01, ``method.w`` 0 / 2, ``method.lam``
0 / 8; DOR outliers from ``random_words``, 32 re-drawn every step; no mixture) on a slice of
the toy world with 10 base and 10 new classes, seed 1, run two ways, each in its own process:

- project: ``workers.trial.run_trial`` for each trial, in one process, on a cold feature cache
  in a temporary folder: the first trial fills it (``n_views`` augmented views of every
  training image, validation and test images, the outlier pool's zero-shot features), the
  others reuse it. The text path cuts prompts after their last end-of-text token, runs the
  shared prefix once (``prompt.shared_prefix``) and packs outlier batches in length buckets.
- CoOp-style (``bench/coop_loop.py``): for each trial a fresh model and CoOp's loop: every
  step loads, augments and encodes its images through the image tower and runs the prompts
  through the model's own 77-token text path (no truncation), as it does the drawn
  outliers' zero-shot prompts; at the end the test images go through the image tower.

Both sides draw the same batches and outliers, start from the same context ("a photo of a"),
and use the same loss, optimizer and lr schedule; only the augmentation draws differ (the
project precomputes ``n_views`` views per image), so final metrics agree within noise. The
CoOp-style loop does no per-epoch validation (as in CoOp); the project's trials do.

Sizes, chosen so the full run stays near a quarter of an hour on 2 cores (the CoOp-style side
takes most of it): 4 shots and batch 32 (2 steps an epoch), 4 epochs (CoOp itself trains for
50 to 200: the more epochs, the more the CoOp-style loop re-encodes each image and the larger
the ratio), 1 view, validation 4 images per class (the project's rule, min(shots, 4)), test 2
per class, an outlier pool of 300 words. ``--quick`` (about 3 minutes): 2 trials (lambda
0 / 8), 2 shots, 1 epoch, 1 view, 1 test image per class.

Also printed per model: one text step (forward and backward, 10 classes with and without 32
outliers) with the full context (77 tokens; toyclip's 32), cut after the end-of-text token,
with the shared prefix and with length buckets (median of interleaved repeats), and each
side's text-tower FLOPs per step, counted analytically. Last line: ``speedup: <ratio>x``,
CoOp-style wall time over the project's on ViT-B-16 (random init, 224 px), end to end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from coop_loop import CoOpPrompts, coop_text, coop_trial  # noqa: E402 (bench/ helpers)
from feature_cache import MODELS, make_slice, register_slice  # noqa: E402

FULL = {"trials": 8, "shots": 4, "epochs": 4, "views": 1, "test": 2}
QUICK = {"trials": 2, "shots": 2, "epochs": 1, "views": 1, "test": 1}
# lambda 8 first: the first trial then fills everything the others read (the images and the
# outlier pool's words and features), so "first minus a later one like it" is the fill
GRID = {"train.lr": (0.002, 0.01), "method.w": (0.0, 2.0), "method.lam": (8.0, 0.0)}
METRICS = ("test_base_acc", "test_new_acc", "test_hm", "test_ece")


def grid(model: str, root: Path, sizes: dict) -> list:
    """The sweep's trial configurations; --quick keeps lambda 0 and 8 at the first lr and w."""
    from workers.config import TrialConfig

    name, pretrained = MODELS[model]
    fixed = TrialConfig().with_overrides(
        {
            "model.name": name,
            "model.pretrained": pretrained,
            "data.dataset": "toyslice",
            "data.root": str(root),
            "data.shots": sizes["shots"],
            "data.n_views": sizes["views"],
            "data.crop_scale_min": 0.5,
            "train.epochs": sizes["epochs"],
            "train.batch_size": 32,
            "method.outlier_vocab": "random_words",
            "method.pool_size": 300,
            "prompt.shared_prefix": True,
        }
    )
    points = [dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())]
    if sizes["trials"] < len(points):
        points = [p for p in points if p["train.lr"] == 0.002 and p["method.w"] == 0.0]
    return [fixed.with_overrides(p) for p in points[: sizes["trials"]]]


# ---- one text step: time and FLOPs --------------------------------------------------------


def text_flops(clip, segments: list[tuple[int, int, int]], *, backward: bool) -> float:
    """Text-tower FLOPs of attention calls given as (rows, queries, keys each query sees).

    Per token and block, projections and MLP cost 8w^2 + 4wm (w width, m MLP width); per
    query-key pair, attention costs 4w. Backward computes input gradients only (the tower is
    frozen): once more the projections and MLP, twice more attention.
    """
    blocks = clip.text.transformer.resblocks
    w, m = blocks[0].mlp.c_fc.in_features, blocks[0].mlp.c_fc.out_features
    dense = sum(rows * queries for rows, queries, _ in segments) * (8 * w * w + 4 * w * m)
    attention = sum(rows * queries * keys for rows, queries, keys in segments) * 4 * w
    if backward:
        dense, attention = 2 * dense, 3 * attention
    return len(blocks) * (dense + attention)


def project_segments(learner, frozen, max_buckets: int) -> list[tuple[int, int, int]]:
    """The attention calls of ``encode_prompts``: shared prefix once, then each bucket."""
    from workers.text_packing import length_buckets

    shared = learner.shared_length if learner.shared_prefix else 0
    lengths = frozen.eot_index + 1 - shared
    buckets = length_buckets(lengths, max_buckets=max_buckets)
    rows = [(len(b), int(lengths[b].max()), shared + int(lengths[b].max())) for b in buckets]
    return ([(1, shared, shared)] if shared else []) + rows


def text_step(model: str, root: Path, quick: bool) -> dict:
    """Forward + backward of the learned prompts, 10 classes with and without 32 outliers."""

    from workers.config import TrialConfig
    from workers.datasets import read_split
    from workers.model import create_clip
    from workers.prompts import create_prompt_learner, encode_prompts, freeze_prompts
    from workers.splits import class_names, subsample_classes
    from workers.trial import OUTLIER_BUCKETS
    from workers.vocab import OutlierSampler, build_pool

    name, pretrained = MODELS[model]
    clip = create_clip(name, pretrained=pretrained)
    m = TrialConfig().method
    base = class_names(subsample_classes(read_split(root, "toyslice")["test"], "base"))
    pool = build_pool(
        "random_words",
        base_names=base,
        new_names=[],
        encode=None,
        near_ood_k=1,
        pool_size=300,
        seed=1,
    )
    drawn = OutlierSampler(len(pool.words), resample_every="step", seed=1).draw(32, new_epoch=True)
    outliers = [pool.words[i] for i in drawn.tolist()]
    learners = {
        sp: create_prompt_learner(clip, n_ctx=4, ctx_init="a photo of a", shared_prefix=sp)
        for sp in (False, True)
    }
    frozen = {"base": freeze_prompts(clip, base, 4), "outliers": freeze_prompts(clip, outliers, 4)}
    coop = {"base": CoOpPrompts(clip, base, 4), "outliers": CoOpPrompts(clip, outliers, 4)}

    def project(shared: bool, buckets: int, with_outliers: bool):
        learner = learners[shared]
        loss = encode_prompts(clip, learner, frozen["base"]).sum()
        if with_outliers:
            loss = (
                loss + encode_prompts(clip, learner, frozen["outliers"], max_buckets=buckets).sum()
            )
        loss.backward()

    def full(with_outliers: bool):
        ctx = learners[False].ctx
        loss = coop_text(clip, ctx, coop["base"]).sum()
        if with_outliers:
            loss = loss + coop_text(clip, ctx, coop["outliers"]).sum()
        loss.backward()

    variants = {
        "full context (CoOp)": full,
        "cut after end-of-text": lambda o: project(False, 1, o),
        "+ shared prefix": lambda o: project(True, 1, o),
        "+ length buckets": lambda o: project(True, OUTLIER_BUCKETS, o),
    }
    repeats = (3 if model == "ViT-B-16" else 30) // (3 if quick else 1)
    times: dict[str, dict[str, list[float]]] = {v: {"base": [], "outliers": []} for v in variants}
    for _ in range(repeats):
        for variant, run in variants.items():
            for case in ("base", "outliers"):
                start = time.perf_counter()
                run(case == "outliers")
                times[variant][case].append(time.perf_counter() - start)
    ms = {
        v: {c: 1000 * statistics.median(t) for c, t in cases.items()} for v, cases in times.items()
    }
    # text-tower FLOPs of one training step of each side (lambda > 0: with the outliers)
    n_full = clip.text.context_length
    coop_base = text_flops(clip, [(len(base), n_full, n_full)], backward=True)
    coop_out = text_flops(clip, [(32, n_full, n_full)], backward=True) + text_flops(
        clip,
        [(32, n_full, n_full)],
        backward=False,  # the outliers' zero-shot prompts
    )
    ours_base = text_flops(clip, project_segments(learners[True], frozen["base"], 1), backward=True)
    ours_out = text_flops(
        clip,
        project_segments(learners[True], frozen["outliers"], OUTLIER_BUCKETS),
        backward=True,  # zero-shot features of the pool come from the cache
    )
    return {
        "ms": ms,
        "gflops": {
            "coop": [coop_base / 1e9, (coop_base + coop_out) / 1e9],
            "project": [ours_base / 1e9, (ours_base + ours_out) / 1e9],
        },
        "outlier_batch": m.outlier_batch,
    }


# ---- driver -------------------------------------------------------------------------------


def side(args) -> None:
    register_slice()
    sizes = QUICK if args.quick else FULL
    root = Path(args.root)
    if args.side == "text":
        print(json.dumps(text_step(args.model, root, args.quick)))
        return
    from workers.trial import run_trial

    if args.cache:
        os.environ["ORCH_CACHE"] = args.cache  # the trial reads the cache the environment names
    metrics, seconds = [], []
    for cfg in grid(args.model, root, sizes):
        start = time.perf_counter()
        if args.side == "project":
            metrics.append(run_trial(cfg).metrics)
        else:
            metrics.append(coop_trial(cfg))
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"seconds": sum(seconds), "per_trial": seconds, "metrics": metrics}))


def run_side(which: str, model: str, root: Path, cache: Path, quick: bool) -> dict:
    cmd = [sys.executable, __file__, "--side", which, "--model", model, "--root", str(root)]
    cmd += ["--cache", str(cache)] + (["--quick"] if quick else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"{which} side of {model} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def summary(metrics: list[dict]) -> str:
    means = {k: statistics.mean(m[k] for m in metrics) for k in METRICS}
    return "  ".join(f"{k[5:]} {v:5.1f}" for k, v in means.items())


def report(model: str, sizes: dict, text: dict, results: dict, lams: list[float]) -> float:
    trials = len(results["project"]["metrics"])
    print(
        f"{model}: {trials} trials, 10 base + 10 new classes, {sizes['shots']} shots, "
        f"{sizes['epochs']} epoch(s), {sizes['views']} view(s), {sizes['test']} test image(s) "
        "per class"
    )
    print(f"  text step, forward + backward    10 classes   + {text['outlier_batch']} outliers")
    for variant, ms in text["ms"].items():
        print(f"    {variant:<28} {ms['base']:9.1f} ms {ms['outliers']:11.1f} ms")
    coop, ours = text["gflops"]["coop"], text["gflops"]["project"]
    print(
        f"  text-tower GFLOP per step (lam = 0 / lam > 0): CoOp-style {coop[0]:.2f} / "
        f"{coop[1]:.2f}, project {ours[0]:.3f} / {ours[1]:.3f} "
        f"({coop[0] / ours[0]:.0f}x / {coop[1] / ours[1]:.0f}x fewer)"
    )
    for which, label in (("project", "project"), ("coop", "CoOp-style")):
        r = results[which]
        print(f"  {label:<11} {r['seconds']:7.1f} s   mean test {summary(r['metrics'])}")
    ours, coop = results["project"]["per_trial"], results["coop"]["per_trial"]
    ratio = results["coop"]["seconds"] / results["project"]["seconds"]
    per_trial = math.nan
    if len(ours) > 1:
        later, theirs = statistics.mean(ours[1:]), statistics.mean(coop)
        # what the first trial pays beyond a later one of the same cost: the fill (a trial
        # with outliers costs more than one without, whatever the cache holds)
        twins = [t for t, lam in zip(ours[1:], lams[1:], strict=True) if lam == lams[0]]
        fill = max(ours[0] - statistics.mean(twins or ours[1:]), 0.0)
        per_trial = theirs / later
        print(
            f"  per trial: project {ours[0]:.1f} s for the first (it fills the cache: "
            f"{fill:.1f} s more), then {later:.1f} s; CoOp-style {theirs:.1f} s"
        )
        print(f"  per-trial: {per_trial:.1f}x (once the cache is filled)")
        print(f"  end to end, measured at {trials} trials: {ratio:.1f}x")
        for n in (32, 128):  # the same fill and per-trial times, more trials
            derived = theirs * n / (fill + later * n)
            print(f"  end to end, derived for {n} trials: {derived:.1f}x")
    else:
        print(f"  end to end, measured at {trials} trials: {ratio:.1f}x")
    return ratio, per_trial


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--quick", action="store_true", help="2 trials, 1 epoch, fewer images")
    parser.add_argument("--side", choices=("project", "coop", "text"))
    parser.add_argument("--model")
    parser.add_argument("--root")
    parser.add_argument("--cache")
    args = parser.parse_args()
    if args.side:
        return side(args)
    sizes = QUICK if args.quick else FULL
    ratios = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        val = min(sizes["shots"], 4)
        make_slice(root, {"train": sizes["shots"], "val": val, "test": sizes["test"]})
        for model in args.models:
            cache = Path(tmp) / f"cache-{model}"  # empty: the project side pays the fill
            text = run_side("text", model, root, cache, args.quick)
            results = {w: run_side(w, model, root, cache, args.quick) for w in ("project", "coop")}
            lams = [cfg.method.lam for cfg in grid(model, root, sizes)]
            ratios[model] = report(model, sizes, text, results, lams)
    end_to_end, per_trial = ratios.get("ViT-B-16", next(iter(ratios.values())))
    print(f"per-trial: {per_trial:.1f}x")
    print(f"speedup: {end_to_end:.1f}x")


if __name__ == "__main__":
    main()
