"""Pretrain the project's small CLIP (``toyclip``) on the toy world's web.

The miniature of web-scale pretraining: every combination of every domain's words (the
benchmarks' classes, the source's and more, ``family.VOCABULARY``), images from the same
photographic process as the benchmarks (no style shift: CLIP's web covers its benchmarks'
styles), captions that are noisy, partial, synonymous or sometimes wrong (``captions.py``), and
a learnable temperature that is free to settle. Zero-shot transfer is then imperfect because
the classes are confusable, not because the pixels look foreign, and the model hedges there.

    python -m workers.toyworld.pretrain            # rewrites workers/assets/toyclip_toyworld.pt

Deterministic for a given seed on a given machine (fixed threads, deterministic kernels).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from workers.model import (
    PROJECT_WEIGHTS,
    create_clip,
    encode_token_embeddings,
    end_of_text_index,
)
from workers.toyworld.captions import caption
from workers.toyworld.family import VOCABULARY, render_class
from workers.toyworld.glyphs import glyph_names

SHIFT = 2  # pixels (at the model's input size) of random translation per training image


def render_pool(preprocess, per_combo: int, seed: int) -> torch.Tensor:
    """``per_combo`` preprocessed images of every vocabulary entry, as the benchmarks' images
    reach the model. -> (n_combo, per_combo, 3, H, W) float16"""
    rows = []
    for index, toy_class in enumerate(VOCABULARY):
        rng = np.random.default_rng([seed, 7, index])  # never the benchmarks' streams
        rows.append(
            torch.stack([preprocess(render_class(toy_class, rng)) for _ in range(per_combo)])
        )
    return torch.stack(rows).half()


def _shifted(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each image moved by up to SHIFT pixels (edge-padded). (B, 3, H, W) -> same"""
    b, _, h, w = images.shape
    padded = F.pad(images, (SHIFT,) * 4, mode="replicate")
    dx, dy = torch.randint(2 * SHIFT + 1, (2, b), generator=gen)
    return torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(b)])


def pretrain(
    *, steps: int, per_combo: int, batch: int, lr: float, seed: int, log_every: int = 50
) -> tuple[dict, dict]:
    """Train from scratch; returns the fp16 state dict and metadata."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)  # bitwise repeatable only for a fixed thread count; on 2 busy
    # cores one thread was also the fastest (2 threads: 2-10x slower per step)
    torch.use_deterministic_algorithms(True)
    try:
        return _pretrain(
            steps=steps, per_combo=per_combo, batch=batch, lr=lr, seed=seed, log_every=log_every
        )
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _pretrain(
    *, steps: int, per_combo: int, batch: int, lr: float, seed: int, log_every: int
) -> tuple[dict, dict]:
    start = time.time()
    torch.manual_seed(seed)
    clip = create_clip("toyclip")
    model = clip.model.train().requires_grad_(True)
    pool = render_pool(clip.preprocess, per_combo, seed)  # (n_combo, per_combo, 3, H, W)
    render_seconds = time.time() - start
    n_combo = pool.shape[0]
    batch = min(batch, n_combo)
    by_char = {c: n for n, c in glyph_names().items()}
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr=lr
    )
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng([seed, 11])  # caption noise
    targets = torch.arange(batch)
    for step in range(steps):
        combos = torch.randperm(n_combo, generator=gen)[:batch]  # (B,) distinct entries
        pick = torch.randint(per_combo, (batch,), generator=gen)
        images = _shifted(pool[combos, pick].float(), gen)  # (B, 3, H, W)
        ids = clip.tokenize([caption(VOCABULARY[int(c)], rng, by_char) for c in combos])
        eot = end_of_text_index(clip.text, ids)  # (B,) the sequence is cut there: same features
        txt = encode_token_embeddings(clip.text, clip.text.token_embedding(ids), eot)
        img = F.normalize(model.encode_image(images), dim=-1)  # (B, E)
        txt = F.normalize(txt, dim=-1)  # (B, E)
        logits = model.logit_scale.exp() * img @ txt.T  # (B, B)
        loss = (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
        if step == 0:
            first_loss = loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))  # an upper bound only: free to settle
        if step % log_every == 0 or step == steps - 1:
            acc = (logits.argmax(1) == targets).float().mean().item()
            print(
                f"step {step:4d}  loss {loss.item():.3f}  batch acc {acc:.2f}  "
                f"scale {model.logit_scale.exp().item():.1f}  {time.time() - start:.0f}s",
                flush=True,
            )
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    meta = {
        "steps": steps,
        "per_combo": per_combo,
        "batch": batch,
        "lr": lr,
        "seed": seed,
        "vocabulary": n_combo,
        "first_loss": round(first_loss, 4),
        "final_loss": round(loss.item(), 4),
        "logit_scale": round(model.logit_scale.exp().item(), 2),
        "render_seconds": round(render_seconds),
        "seconds": round(time.time() - start),
    }
    return state, meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--per-combo", type=int, default=32)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=PROJECT_WEIGHTS[("toyclip", "toyworld")])
    args = parser.parse_args()
    state, meta = pretrain(
        steps=args.steps, per_combo=args.per_combo, batch=args.batch, lr=args.lr, seed=args.seed
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, args.out)
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
