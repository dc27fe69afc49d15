"""CoOp's own training loop, as the reference side of ``bench/trial_speed.py``.

For each trial a fresh model and CoOp's loop: every step loads, augments and encodes its
images through the image tower and runs the prompts through the model's own 77-token text
path (CoOp's TextEncoder, no truncation), as it does the drawn outliers' zero-shot prompts;
at the end the test images go through the image tower. No cache.
"""

from __future__ import annotations


class CoOpPrompts:
    """CoOp's frozen buffers at the full context length: start token, and name to padding."""

    def __init__(self, clip, names: list[str], n_ctx: int) -> None:
        import torch

        from workers.model import end_of_text_index

        with torch.no_grad():
            ids = clip.tokenize([" ".join(["X"] * n_ctx) + f" {name}." for name in names])
            embeds = clip.text.token_embedding(ids)  # (n, 77, D)
        self.token_prefix = embeds[:, :1]  # (n, 1, D)
        self.token_suffix = embeds[:, 1 + n_ctx :]  # (n, 77 - 1 - n_ctx, D)
        self.eot = end_of_text_index(clip.text, ids)  # (n,)


def coop_text(clip, ctx, prompts: CoOpPrompts):
    """CoOp's TextEncoder: all context_length positions through the model's own blocks."""
    import torch
    import torch.nn.functional as F

    from workers.model import project_pooled

    tower, n = clip.text, prompts.eot.shape[0]
    x = torch.cat([prompts.token_prefix, ctx.expand(n, -1, -1), prompts.token_suffix], dim=1)
    x = tower.transformer(x + tower.positional_embedding, attn_mask=tower.attn_mask)  # (n, 77, w)
    x = tower.ln_final(x)[torch.arange(n, device=x.device), prompts.eot]  # (n, w)
    return F.normalize(project_pooled(tower, x).float(), dim=-1)  # (n, E)


def lr_at(train, epoch: int) -> float:
    """The project's schedule (``Trainer.set_lr``): constant warm-up, then cosine."""
    import math

    if epoch < train.warmup_epochs:
        return train.warmup_lr
    progress = (epoch - train.warmup_epochs) / max(1, train.epochs - train.warmup_epochs)
    return 0.5 * train.lr * (1 + math.cos(math.pi * progress))


def coop_trial(cfg) -> dict[str, float]:
    import torch

    from workers.datasets import read_split
    from workers.features import load_image, train_transform
    from workers.losses import dor_loss, prompt_objective
    from workers.metrics import base_new_metrics
    from workers.model import autocast, load_clip
    from workers.splits import class_names, few_shot, subsample_classes
    from workers.vocab import OutlierSampler, build_pool

    clip = load_clip(cfg.model)
    device, scale = clip.device, clip.logit_scale
    m, t, seed, n_ctx = cfg.method, cfg.train, cfg.train.seed, cfg.prompt.n_ctx
    splits = read_split(cfg.data.root, cfg.data.dataset)
    train = few_shot(subsample_classes(splits["train"], "base"), cfg.data.shots, seed)
    test = {s: subsample_classes(splits["test"], s) for s in ("base", "new")}
    names = {s: class_names(items) for s, items in test.items()}
    if m.lam:
        pool = build_pool(
            m.outlier_vocab,
            base_names=names["base"],
            new_names=names["new"],
            encode=lambda _: None,  # random_words ranks nothing
            near_ood_k=m.near_ood_k,
            pool_size=m.pool_size,
            seed=seed,
        )
        sampler = OutlierSampler(len(pool.words), resample_every=m.resample_every, seed=seed)
    torch.manual_seed(seed)
    with torch.no_grad():
        init = clip.text.token_embedding(clip.tokenize([cfg.prompt.ctx_init]))[0, 1 : 1 + n_ctx]
    ctx = torch.nn.Parameter(init.clone().float())  # (n_ctx, D)
    prompts = {s: CoOpPrompts(clip, names[s], n_ctx) for s in names}
    opt = torch.optim.SGD([ctx], lr=t.lr, momentum=0.9)
    augment = train_transform(clip, cfg.data.crop_scale_min)
    labels = torch.tensor([d.label for d in train], device=device)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(t.epochs):
        opt.param_groups[0]["lr"] = lr_at(t, epoch)
        order = torch.randperm(len(train), generator=gen)
        torch.randint(cfg.data.n_views, (len(train),), generator=gen)  # the project's view draw
        for step, start in enumerate(range(0, len(train), t.batch_size)):
            idx = order[start : start + t.batch_size]
            batch = torch.stack([load_image(train[i].path, augment) for i in idx.tolist()])
            img = clip.encode_images(batch)  # (B, E) through the image tower, every step
            with autocast(device):
                logits = scale * img @ coop_text(clip, ctx, prompts["base"]).T
                dor = None
                if m.lam:
                    drawn = sampler.draw(m.outlier_batch, new_epoch=step == 0).tolist()
                    words = [pool.words[i] for i in drawn]
                    tuned = coop_text(clip, ctx, CoOpPrompts(clip, words, n_ctx))
                    with torch.no_grad():
                        ids = clip.tokenize([cfg.data.template.format(w) for w in words])
                        zero_shot = clip.model.encode_text(ids, normalize=True).float()
                    dor = dor_loss(tuned, zero_shot)
                total, _ = prompt_objective(
                    logits, labels[idx.to(device)], w=m.w, dor=dor, lam=m.lam
                )
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
    probs, targets = {}, {}
    with torch.no_grad(), autocast(device):
        for subset, items in test.items():
            feats = torch.cat(
                [
                    clip.encode_images(
                        torch.stack(
                            [load_image(i.path, clip.preprocess) for i in items[s : s + 64]]
                        )
                    )
                    for s in range(0, len(items), 64)
                ]
            )
            text = coop_text(clip, ctx, prompts[subset])
            probs[subset] = (scale * feats @ text.T).softmax(-1).float().cpu()
            targets[subset] = torch.tensor([i.label for i in items])
    return {f"test_{k}": v for k, v in base_new_metrics(probs, targets, t.n_bins).items()}
