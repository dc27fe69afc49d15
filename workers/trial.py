"""One trial: train the prompt (stage 1), then the CoA-weights (stage 2), reporting per epoch.

Stage 1 minimises ``CE + w * CoA + lambda * DOR (+ lambda_kg * KG)`` over the learned context.
Stage 2 (``method.mixture``) fits ``pi_in`` by the mixture's cross-entropy on base training
data and ``pi_out`` by the entropy hinge with margin ``d`` over an out-class set drawn from the
outlier pool. ``one_stage`` does both at once. Runs without Ray: ``report`` is any callable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from workers.adapter import Adapter
from workers.config import TrialConfig
from workers.episode import Episode, prepare_episode
from workers.errors import TrainingDiverged
from workers.losses import (
    divergence,
    dor_loss,
    entropy_hinge,
    kg_loss,
    prompt_objective,
    visual_dor_loss,
)
from workers.messages import ReliabilityDiagram
from workers.metrics import base_new_metrics, reliability_bins, transfer_metrics
from workers.mixture import IN, OUT, SPECIALIZED, CoAWeights, mixture_logits
from workers.model import Clip, autocast, load_clip
from workers.prompts import WordPrompts, create_prompt_learner, encode_prompts, freeze_prompts
from workers.protocol import Cell
from workers.vocab import OutlierSampler

# called after every epoch with its validation metrics and the state to resume from
Report = Callable[[dict[str, float], dict], None]
OUTLIER_BUCKETS = 3  # outlier batches are encoded in at most this many length buckets


class Trainer:
    def __init__(self, clip: Clip, cfg: TrialConfig, episode: Episode) -> None:
        self.clip, self.cfg, self.ep = clip, cfg, episode
        self._class_features: tuple[tuple, dict[str, torch.Tensor]] = ((), {})
        self.device = clip.device
        self.scale = clip.logit_scale
        p, m = cfg.prompt, cfg.method
        torch.manual_seed(cfg.train.seed)
        self.learner = create_prompt_learner(
            clip,
            n_ctx=p.n_ctx,
            ctx_init=p.ctx_init,
            class_position=p.class_position,
            n_classes_specific=len(episode.trained.names) if p.class_specific else 0,
            shared_prefix=p.shared_prefix,
        )
        self.weights = CoAWeights(m.specialized_init).to(self.device)
        self.frozen = {
            name: freeze_prompts(clip, labels.names, p.n_ctx)
            for name, labels in episode.sets.items()
        }
        self.frozen_trained = next(self.frozen[n] for n, s in episode.sets.items() if s.inside)
        self.pool_prompts = WordPrompts(clip, episode.pool.words, p.n_ctx)
        self.sampler = OutlierSampler(
            len(episode.pool.words), resample_every=m.resample_every, seed=cfg.train.seed
        )
        self.adapter = None
        if m.adapter:
            dim = episode.trained.zero_shot.shape[-1]
            self.adapter = Adapter(dim, m.adapter_ratio).to(self.device)
        self.image_sampler = OutlierSampler(
            len(episode.image_outliers), resample_every=m.resample_every, seed=cfg.train.seed + 1
        )
        self.gen = torch.Generator().manual_seed(cfg.train.seed)
        # the prompt's optimiser never sees the CoA-weights: they always use SGD (METHOD.md)
        learned = [] if p.frozen else [self.learner.ctx]
        self.learner.ctx.requires_grad_(not p.frozen)
        learned += list(self.adapter.parameters()) if self.adapter is not None else []
        params = [{"params": learned, "lr": cfg.train.lr}]
        t = cfg.train
        self.opt = (
            torch.optim.Adam(params)
            if t.optimizer == "adam"
            else torch.optim.SGD(params, momentum=0.9)
        )
        self.weight_opt = torch.optim.SGD([self.weights.logits], lr=t.weight_lr, momentum=0.9)
        self.to_device = lambda x: x.to(self.device)

    # ---- features ------------------------------------------------------------------------
    def see(self, img: torch.Tensor) -> torch.Tensor:
        """Image features as the classifier sees them: through the adapter, if any. (N, E)"""
        return self.adapter(img) if self.adapter is not None else img

    def divergences(self) -> dict[str, float]:
        """``div_<set>``: textual divergence of every label set's tuned class features."""
        return {
            f"div_{name}": divergence(self.class_features(name), labels.zero_shot)
            for name, labels in self.ep.sets.items()
        }

    @torch.no_grad()
    def class_features(self, label_set: str) -> torch.Tensor:
        """A label set's tuned class features, encoded once per state of the prompt: an
        evaluation's accuracy, divergence and reliability, and the test after the last
        validation, all read the same ones. -> (C, E)"""
        # an optimizer step or a loaded state bumps the changed tensors' version counters
        tensors = [*self.learner.parameters(), *self.learner.buffers()]
        state = (id(self.learner), *(t._version for t in tensors))
        if self._class_features[0] != state:
            self._class_features = (state, {})
        known = self._class_features[1]
        if label_set not in known:
            known[label_set] = self.tuned(self.frozen[label_set])
        return known[label_set]

    def tuned(self, frozen, max_buckets: int = 1) -> torch.Tensor:
        with autocast(self.device):
            return encode_prompts(self.clip, self.learner, frozen, max_buckets=max_buckets)

    def outliers(self, size: int, new_epoch: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Tuned and zero-shot features of a drawn outlier batch. -> (B, E), (B, E)"""
        idx = self.sampler.draw(size, new_epoch=new_epoch)
        frozen = self.pool_prompts(idx.tolist())
        tuned = self.tuned(frozen, max_buckets=OUTLIER_BUCKETS)  # words vary in length
        return tuned, self.ep.pool_zero_shot[idx].to(self.device)

    # ---- losses --------------------------------------------------------------------------
    def weight_loss(self, img, labels, t1_base, new_epoch) -> tuple[torch.Tensor, dict]:
        """Mixture CE for pi_in plus the entropy hinge for pi_out over an out-class set.

        Trains the CoA-weights only: the specialized prompt's features enter as constants,
        so neither term ever moves the context (also in one-stage optimisation).
        """
        t1_base = t1_base.detach()
        s0 = self.scale * img @ self.ep.trained.zero_shot.to(self.device).T  # (N, C_b)
        s1 = self.scale * img @ t1_base.T  # (N, C_b)
        ce_mix = F.cross_entropy(mixture_logits(s0, s1, self.weights.group(IN)), labels)
        with torch.no_grad():
            t1_out, t0_out = self.outliers(len(self.ep.trained.names), new_epoch)
        hinge = entropy_hinge(
            self.scale * img @ t0_out.T,
            self.scale * img @ t1_out.T,
            self.weights.group(OUT)[SPECIALIZED],
            margin=self.cfg.method.d,
        )
        total = ce_mix + hinge
        parts = {"loss_mix_ce": ce_mix.item(), "loss_ent": hinge.item(), "loss": total.item()}
        return total, parts

    def visual_outliers(self, new_epoch: bool) -> torch.Tensor:
        """Visual DOR over a drawn batch of outlier images. -> ()"""
        idx = self.image_sampler.draw(self.cfg.method.outlier_batch, new_epoch=new_epoch)
        frozen = self.ep.image_outliers[idx].to(self.device).float()  # (B, E)
        return visual_dor_loss(self.adapter(frozen), frozen)

    def prompt_step(self, img, labels, new_epoch) -> dict:
        m = self.cfg.method
        img = self.see(img)
        t1 = self.tuned(self.frozen_trained)  # (C_b, E)
        logits = self.scale * img @ t1.T  # (N, C_b)
        dor = dor_loss(*self.outliers(m.outlier_batch, new_epoch)) if m.lam else None
        kg = kg_loss(t1, self.ep.trained.zero_shot.to(self.device)) if m.lam_kg else None
        visual = self.visual_outliers(new_epoch) if m.lam_visual else None
        total, parts = prompt_objective(
            logits,
            labels,
            w=m.w,
            dor=dor,
            lam=m.lam,
            kg=kg,
            lam_kg=m.lam_kg,
            visual_dor=visual,
            lam_visual=m.lam_visual,
        )
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.opt.step()
        if m.mixture and m.optimization == "one_stage":  # the weights' step, on the same batch
            more = self.weight_step(img.detach(), labels, t1, new_epoch)
            parts = {
                **parts,
                **more,
                "loss": parts["loss"] + more["loss_mix_ce"] + more["loss_ent"],
            }
        return parts

    def weight_step(self, img, labels, t1_base, new_epoch) -> dict:
        loss, parts = self.weight_loss(img, labels, t1_base, new_epoch)
        self.weight_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.weight_opt.step()
        return parts

    # ---- loops ---------------------------------------------------------------------------
    def batches(self):
        views, labels = self.ep.train_views, self.ep.train_labels
        n = labels.shape[0]
        order = torch.randperm(n, generator=self.gen)
        view = torch.randint(views.shape[0], (n,), generator=self.gen)  # a random view per image
        for start in range(0, n, self.cfg.train.batch_size):
            idx = order[start : start + self.cfg.train.batch_size]
            yield self.to_device(views[view[idx], idx].float()), self.to_device(labels[idx])

    def set_lr(self, epoch: int) -> None:
        """CoOp: constant warm-up lr for the first epochs, then cosine over the rest."""
        t = self.cfg.train
        progress = (epoch - t.warmup_epochs) / max(1, t.epochs - t.warmup_epochs)
        cosine = 0.5 * t.lr * (1 + math.cos(math.pi * progress))
        self.opt.param_groups[0]["lr"] = t.warmup_lr if epoch < t.warmup_epochs else cosine

    def train_epoch(self, epoch: int) -> dict:
        self.set_lr(epoch)
        sums: dict[str, float] = {}
        steps = 0
        for i, (img, labels) in enumerate(self.batches()):
            for key, value in self.prompt_step(img, labels, new_epoch=i == 0).items():
                sums[key] = sums.get(key, 0.0) + value
            steps += 1
        return {k: v / steps for k, v in sums.items()}

    def weight_epoch(self) -> dict:
        with torch.no_grad():
            t1_base = self.tuned(self.frozen_trained).float()
        sums: dict[str, float] = {}
        steps = 0
        for i, (img, labels) in enumerate(self.batches()):
            with torch.no_grad():
                img = self.see(img)
            for key, value in self.weight_step(img, labels, t1_base, new_epoch=i == 0).items():
                sums[key] = sums.get(key, 0.0) + value
            steps += 1
        return {k: v / steps for k, v in sums.items()}

    # ---- evaluation ----------------------------------------------------------------------
    @torch.no_grad()
    def probs(self, feats: torch.Tensor, label_set: str) -> torch.Tensor:
        """Class probabilities of images over one label set's own labels. -> (N, C)"""
        labels = self.ep.sets[label_set]
        img = self.see(self.to_device(feats.float()))
        t1 = self.class_features(label_set).float()
        s1 = self.scale * img @ t1.T
        if not self.cfg.method.mixture:
            return s1.softmax(-1)
        s0 = self.scale * img @ labels.zero_shot.to(self.device).T
        group = self.weights.group(IN if labels.inside else OUT)
        return mixture_logits(s0, s1, group).softmax(-1)

    def evaluate(self, split: str, prefix: str = "") -> dict[str, float]:
        """Metrics (in %) on the ``val`` or ``test`` images of every label set."""
        data = {name: getattr(labels, split) for name, labels in self.ep.sets.items()}
        probs = {name: self.probs(d.feats, name).cpu() for name, d in data.items()}
        targets = {name: d.labels for name, d in data.items()}
        n_bins = self.cfg.train.n_bins
        if self.ep.transfer:
            source = next(n for n, s in self.ep.sets.items() if s.inside)
            out = transfer_metrics(probs, targets, source, n_bins)
        else:
            out = base_new_metrics(probs, targets, n_bins)
        pi = self.weights().detach().cpu()
        if self.cfg.method.mixture:
            out["pi_in"], out["pi_out"] = pi[IN, SPECIALIZED].item(), pi[OUT, SPECIALIZED].item()
        if split == "val":  # the divergences do not depend on the images: once per evaluation
            out.update(self.divergences())
        return {f"{prefix}{k}": v for k, v in out.items()}

    # ---- state ---------------------------------------------------------------------------
    def state(self, epoch: int) -> dict:
        return {
            "epoch": epoch,
            "ctx": self.learner.ctx.detach().cpu(),
            "weights": self.weights.logits.detach().cpu(),
            "opt": self.opt.state_dict(),
            "weight_opt": self.weight_opt.state_dict(),
            "gen": self.gen.get_state(),
            "sampler": self.sampler.generator.get_state(),
            "held": self.sampler.held,
            "image_sampler": self.image_sampler.generator.get_state(),
            "image_held": self.image_sampler.held,
            **({"adapter": self.adapter.state_dict()} if self.adapter is not None else {}),
        }

    def load(self, state: dict) -> int:
        with torch.no_grad():
            self.learner.ctx.copy_(state["ctx"])
            self.weights.logits.copy_(state["weights"])
        self.opt.load_state_dict(state["opt"])
        self.weight_opt.load_state_dict(state["weight_opt"])
        self.gen.set_state(state["gen"])
        self.sampler.generator.set_state(state["sampler"])
        self.sampler.held = dict(state["held"])
        if "image_sampler" in state:  # states saved before visual DOR existed lack it
            self.image_sampler.generator.set_state(state["image_sampler"])
            self.image_sampler.held = dict(state["image_held"])
        if self.adapter is not None:
            self.adapter.load_state_dict(state["adapter"])
        return int(state["epoch"]) + 1


def total_epochs(cfg: TrialConfig) -> int:
    stage2 = (
        cfg.train.weight_epochs
        if cfg.method.mixture and cfg.method.optimization == "two_stage"
        else 0
    )
    return cfg.train.epochs + stage2


@dataclass
class TrialResult:
    metrics: dict[str, float]  # final validation metrics and, prefixed test_, test metrics
    reliability: list[ReliabilityDiagram]  # validation, then test: each subset of classes
    state: dict  # the learned prompt and weights, as ``Trainer.load`` reads them


def reliability(trainer: Trainer, split: str) -> list[ReliabilityDiagram]:
    diagrams = []
    for subset, labels in trainer.ep.sets.items():
        data = getattr(labels, split)
        probs = trainer.probs(data.feats, subset).cpu()
        bins = reliability_bins(probs, data.labels, trainer.cfg.train.n_bins)
        diagrams.append(
            ReliabilityDiagram(
                split=split,
                subset=subset,
                edges=tuple(bins.edges.tolist()),
                counts=tuple(int(c) for c in bins.counts.tolist()),
                accuracy=tuple(bins.accuracy.tolist()),
                confidence=tuple(bins.confidence.tolist()),
            )
        )
    return diagrams


def start_trial(
    cfg: TrialConfig,
    cell: Cell | None = None,
    *,
    clip: Clip | None = None,
    resume_state: dict | None = None,
) -> tuple[Trainer, int]:
    """A trainer for ``cfg`` (on ``cell``'s classes: default, its own dataset's base and new)
    and the epoch it starts at (after ``resume_state``'s, if any)."""
    clip = clip or load_clip(cfg.model)
    trainer = Trainer(clip, cfg, prepare_episode(clip, cfg, cell))
    return trainer, trainer.load(resume_state) if resume_state is not None else 0


def train_epoch(trainer: Trainer, epoch: int) -> dict[str, float]:
    """One epoch of stage 1 or stage 2, then the validation metrics (in %) and loss terms."""
    losses = fit_epoch(trainer, epoch)
    return {"epoch": epoch + 1, **trainer.evaluate("val"), **losses}


def fit_epoch(trainer: Trainer, epoch: int) -> dict[str, float]:
    """One epoch of stage 1 or stage 2: its mean loss terms; a non-finite one raises."""
    stage = 1 if epoch < trainer.cfg.train.epochs else 2
    losses = trainer.train_epoch(epoch) if stage == 1 else trainer.weight_epoch()
    bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
    if bad:
        t = trainer.cfg.train
        raise TrainingDiverged(
            f"training diverged at epoch {epoch + 1} (stage {stage}): "
            + ", ".join(f"{k} = {v}" for k, v in bad.items())
            + f"; lower train.lr (now {t.lr:g}) or train.weight_lr (now {t.weight_lr:g})"
        )
    return losses


def finish_trial(trainer: Trainer) -> TrialResult:
    ep = trainer.ep
    final = {**trainer.evaluate("val"), **trainer.evaluate("test", "test_")}
    final["pool_new_class_overlap"] = ep.pool.new_class_overlap
    return TrialResult(
        metrics=final,
        reliability=reliability(trainer, "val") + reliability(trainer, "test"),
        state=trainer.state(total_epochs(trainer.cfg) - 1),
    )


def run_trial(
    cfg: TrialConfig, *, report: Report | None = None, resume_state: dict | None = None
) -> TrialResult:
    """Train and evaluate one configuration on one dataset and seed (one cell).

    After each epoch ``report(metrics, state)`` gets the validation metrics (in %), the loss
    terms and the state to resume from; ``resume_state`` (a state a report carried) continues
    after its epoch. Writes no files: saving states is the caller's business.
    """
    trainer, start = start_trial(cfg, resume_state=resume_state)
    if total_epochs(cfg) == 0 and report:  # zero-shot: nothing to train, one report
        report({"epoch": 0, **trainer.evaluate("val")}, trainer.state(-1))
    for epoch in range(start, total_epochs(cfg)):
        metrics = train_epoch(trainer, epoch)
        if report:
            report(metrics, trainer.state(epoch))
    return finish_trial(trainer)
