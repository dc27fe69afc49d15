"""Pretrain the project's small CLIP (``toyclip``) on the clean-style toy world.

This is the miniature of web-scale pretraining: every colour x shape combination (the
benchmark's 64 classes plus extra colours and shapes that are never benchmark classes),
captions from several templates that also mention size and position, clean-style images
only. The benchmark is rendered in another style, so zero-shot transfer is imperfect.

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

from workers.model import PROJECT_WEIGHTS, create_clip
from workers.toyworld.render import ALL_COLOURS, ALL_SHAPES, Scene, render, sample_scene

TEMPLATES = (
    "a photo of a {colour} {shape}.",
    "a {colour} {shape}.",
    "a drawing of a {colour} {shape}.",
    "a {size} {colour} {shape}.",
    "a {colour} {shape} on the {position}.",
    "a {shape} that is {colour}.",
    "{colour} {shape}",
    "a picture of a {size} {colour} {shape} on the {position}.",
    "there is a {colour} {shape} in the image.",
)


def caption(scene: Scene, template: str) -> str:
    return template.format(
        colour=scene.colour, shape=scene.shape, size=scene.size_word, position=scene.position_word
    )


def render_pool(preprocess, per_combo: int, seed: int) -> tuple[torch.Tensor, list[list[Scene]]]:
    """Clean-style images, ``per_combo`` of each colour x shape. -> (n_combo, per_combo, 3, H, W)"""
    rng = np.random.default_rng(seed)
    images, scenes = [], []
    for colour in ALL_COLOURS:
        for shape in ALL_SHAPES:
            row = [sample_scene(rng, colour, shape) for _ in range(per_combo)]
            scenes.append(row)
            images.append(torch.stack([preprocess(render(s, rng, style="web")) for s in row]))
    return torch.stack(images), scenes


def pretrain(*, steps: int, per_combo: int, lr: float, seed: int) -> tuple[dict, dict]:
    """Train from scratch; returns the fp16 state dict (fits the 10 MB budget) and metadata."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(2)  # bitwise repeatable only for a fixed thread count
    torch.use_deterministic_algorithms(True)
    try:
        return _pretrain(steps=steps, per_combo=per_combo, lr=lr, seed=seed)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _pretrain(*, steps: int, per_combo: int, lr: float, seed: int) -> tuple[dict, dict]:
    torch.manual_seed(seed)
    clip = create_clip("toyclip")
    model = clip.model.train().requires_grad_(True)
    pool, scenes = render_pool(clip.preprocess, per_combo, seed)
    n_combo = pool.shape[0]
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    gen = torch.Generator().manual_seed(seed)
    targets = torch.arange(n_combo)
    start = time.time()
    for step in range(steps):
        pick = torch.randint(per_combo, (n_combo,), generator=gen)  # one image of every combination
        templates = torch.randint(len(TEMPLATES), (n_combo,), generator=gen)
        images = pool[targets, pick]  # (n_combo, 3, H, W)
        texts = [
            caption(scenes[c][int(pick[c])], TEMPLATES[int(templates[c])]) for c in range(n_combo)
        ]
        img = F.normalize(model.encode_image(images), dim=-1)  # (n_combo, E)
        txt = F.normalize(model.encode_text(clip.tokenize(texts)), dim=-1)  # (n_combo, E)
        logits = model.logit_scale.exp() * img @ txt.T  # (n_combo, n_combo)
        loss = (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        if step % 50 == 0 or step == steps - 1:
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
        "lr": lr,
        "seed": seed,
        "final_loss": round(loss.item(), 4),
        "seconds": round(time.time() - start),
    }
    return state, meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--per-combo", type=int, default=40)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=PROJECT_WEIGHTS[("toyclip", "toyworld")])
    args = parser.parse_args()
    state, meta = pretrain(steps=args.steps, per_combo=args.per_combo, lr=args.lr, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, args.out)
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
