"""Few-shot class-incremental learning: CoCoA-Mix with one specialized prompt per session.

Session 0 learns on the base classes, session k on its ``ways`` new classes. Each session is
one two-prompt trial on its own classes (``Trainer``: stage 1 its prompt, stage 2 its
CoA-weights, earlier prompts frozen). After each session every class seen so far is
classified (test images of those classes only) by, per configuration:

- ``method.mixture``: the K-prompt mixture (``workers.mixture.k_prompt_weights``): prompt s
  weighs in with its in-weight on the classes it learned and its out-weight elsewhere;
- ``method.session_prompts: new`` without mixture: each class by its own session's prompt;
- ``method.session_prompts: carried``: every class by the one prompt fine-tuned session after
  session (CoOp, sequential);
- ``train.epochs: 0``: the template prompt alone (zero-shot CLIP).

Reported: ``acc_s<k>`` (accuracy over the classes seen after session k), ``acc_avg``,
``acc_last``, ``pd`` (first - last) and ``ece_last``, on validation images per epoch and, with
``test_``, on test images at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workers.config import TrialConfig
from workers.datasets import Datum, read_split
from workers.episode import (
    Episode,
    LabelSet,
    augmented_views,
    encode_split,
    model_identity,
    text_features,
)
from workers.errors import ConfigError
from workers.messages import ReliabilityDiagram
from workers.metrics import accuracy, expected_calibration_error, reliability_bins
from workers.mixture import IN, OUT, SPECIALIZED, k_mixture_logits, k_prompt_weights
from workers.model import Clip, autocast
from workers.paths import cache_dir, default_data_root
from workers.prompts import create_prompt_learner, encode_prompts, freeze_prompts
from workers.protocol import Cell, SessionPlan
from workers.splits import class_names, dataset_labels, few_shot, keep_labels
from workers.trial import Trainer, TrialResult, fit_epoch, total_epochs
from workers.vocab import OutlierPool, build_pool


@dataclass
class SessionClasses:
    names: list[str]
    train: list[Datum]  # few-shot, labels from 0 within the session
    val: list[Datum]
    test: list[Datum]


def plan_sessions(splits, cfg: TrialConfig, plan: SessionPlan) -> list[SessionClasses]:
    """Each session's classes and images, reproducible from the sorted labels and the seed."""
    seed = cfg.train.seed
    out = []
    for k, labels in enumerate(plan.classes(dataset_labels(splits))):
        items = {split: keep_labels(splits[split], labels) for split in ("train", "val", "test")}
        shots = cfg.data.shots if k == 0 else plan.shots
        out.append(
            SessionClasses(
                names=class_names(items["train"]),
                train=few_shot(items["train"], shots, seed),
                val=few_shot(items["val"], min(cfg.data.shots, 4), seed, split="val"),
                test=items["test"],
            )
        )
    return out


def session_episode(clip: Clip, cfg: TrialConfig, session: SessionClasses, seen: list[str]):
    """A two-prompt episode whose trained classes are one session's; outliers avoid ``seen``."""
    cache = cache_dir()
    model = model_identity(cfg)
    key = {"model": model, "dataset": cfg.data.dataset}

    def encode(names):
        return text_features(clip, list(names), cfg.data.template, cache, {"model": model})

    pool = OutlierPool(cfg.method.outlier_vocab, (), 0)
    if cfg.method.lam or cfg.method.mixture:
        m = cfg.method
        pool = build_pool(
            m.outlier_vocab,
            base_names=seen,
            new_names=[],  # future sessions' names are unknown yet: no diagnostic here
            encode=encode,
            near_ood_k=m.near_ood_k,
            pool_size=m.pool_size,
            seed=cfg.train.seed,
        )
    eval_key = {**key, "transform": repr(clip.preprocess)}
    labels = LabelSet(
        names=session.names,
        inside=True,
        zero_shot=encode(session.names),
        val=encode_split(clip, session.val, cache, eval_key),
        test=encode_split(clip, session.test, cache, eval_key),
    )
    return Episode(
        sets={"session": labels},
        transfer=False,
        train_views=augmented_views(clip, session.train, cfg, cache, {**key, "split": "train"}),
        train_labels=torch.tensor([d.label for d in session.train]),
        pool=pool,
        pool_zero_shot=encode(pool.words) if pool.words else torch.empty(0, 0),
        image_outliers=torch.empty(0, 0),
    )


class IncrementalRun:
    """One incremental cell, stepped epoch by epoch across its sessions."""

    def __init__(self, clip: Clip, cfg: TrialConfig, plan: SessionPlan) -> None:
        if cfg.method.session_prompts == "carried" and cfg.method.mixture:
            raise ConfigError(
                "method.session_prompts: a carried prompt is CoOp fine-tuned session after "
                "session, without CoA-weights: set method.mixture: false or session_prompts: new"
            )
        self.clip, self.cfg = clip, cfg
        splits = read_split(cfg.data.root or default_data_root(), cfg.data.dataset)
        self.sessions = plan_sessions(splits, cfg, plan)
        self.per_session = total_epochs(cfg)
        self.epochs = self.per_session * len(self.sessions)
        self.episodes: list[Episode] = []  # of the sessions reached so far
        self.done: list[dict] = []  # each finished session's prompt and weights
        self.history: dict[str, list[tuple[float, float]]] = {"val": [], "test": []}
        self.trainer: Trainer | None = None

    # ---- sessions ------------------------------------------------------------------------
    @property
    def session(self) -> int:
        return len(self.episodes) - 1

    def _start_session(self, k: int) -> None:
        seen = [n for s in self.sessions[: k + 1] for n in s.names]
        self.episodes.append(session_episode(self.clip, self.cfg, self.sessions[k], seen))
        previous = self.trainer
        self.trainer = Trainer(self.clip, self.cfg, self.episodes[k])
        if previous is not None and self.cfg.method.session_prompts == "carried":
            with torch.no_grad():
                self.trainer.learner.ctx.copy_(previous.learner.ctx)
        self.frozen_seen = freeze_prompts(self.clip, seen, self.cfg.prompt.n_ctx)
        self.done_feats = [self._features(d["ctx"]) for d in self.done]  # fixed this session

    def _end_session(self) -> None:
        for split in ("val", "test"):
            probs, labels = self.predict(split)
            ece = expected_calibration_error(probs, labels, self.cfg.train.n_bins)
            self.history[split].append((100 * accuracy(probs, labels), 100 * ece))
        t = self.trainer
        self.done.append(
            {"ctx": t.learner.ctx.detach().clone(), "weights": t.weights.logits.detach().clone()}
        )

    def _features(self, ctx: torch.Tensor) -> torch.Tensor:
        """A finished prompt's features for every class seen so far. -> (C, E)"""
        learner = create_prompt_learner(
            self.clip, n_ctx=self.cfg.prompt.n_ctx, ctx_init=self.cfg.prompt.ctx_init
        )
        with torch.no_grad(), autocast(self.clip.device):
            learner.ctx.copy_(ctx)
            return encode_prompts(self.clip, learner, self.frozen_seen).float()

    # ---- prediction ----------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Probabilities over every class seen so far, of the images of those classes.
        -> (N, C), (N,)"""
        sets = [ep.sets["session"] for ep in self.episodes]
        offsets = [0]
        for labels in sets[:-1]:
            offsets.append(offsets[-1] + len(labels.names))
        data = [getattr(labels, split) for labels in sets]
        img = torch.cat([d.feats for d in data]).float().to(self.clip.device)  # (N, E)
        target = torch.cat([d.labels + o for d, o in zip(data, offsets, strict=True)])
        owner = torch.cat([torch.full((len(s.names),), k) for k, s in enumerate(sets)])
        scale = self.clip.logit_scale
        zero_shot = torch.cat([s.zero_shot for s in sets]).float().to(self.clip.device)
        s0 = scale * img @ zero_shot.T  # (N, C)
        if self.per_session == 0:
            return s0.softmax(-1).cpu(), target
        current = self.trainer.tuned(self.frozen_seen).float()  # (C, E)
        if self.cfg.method.session_prompts == "carried":
            return (scale * img @ current.T).softmax(-1).cpu(), target
        feats = [*self.done_feats, current][: len(sets)]
        per_prompt = torch.stack([scale * img @ f.T for f in feats])  # (K, N, C)
        if not self.cfg.method.mixture:  # each class by its own session's prompt
            index = owner.to(img.device)[None, None, :].expand(1, len(img), -1)  # (1, N, C)
            return per_prompt.gather(0, index)[0].softmax(-1).cpu(), target
        weights = [*(d["weights"] for d in self.done), self.trainer.weights.logits.detach()]
        weights = torch.stack(weights[: len(sets)]).to(img.device)  # (K, 2, 2)
        shares = weights[:, :, SPECIALIZED] - weights[:, :, 1 - SPECIALIZED]  # (K, 2)
        pi = k_prompt_weights(shares[:, IN], shares[:, OUT], owner.to(img.device))
        return k_mixture_logits(s0, per_prompt, pi).softmax(-1).cpu(), target

    def metrics(self, split: str, prefix: str = "") -> dict[str, float]:
        """``acc_s<k>`` per session reached, their mean, the last, the drop and last ECE."""
        accs = [acc for acc, _ in self.history[split]]
        last_ece = self.history[split][-1][1] if self.history[split] else float("nan")
        if len(accs) < len(self.episodes):  # the current session, not finished yet
            probs, labels = self.predict(split)
            accs.append(100 * accuracy(probs, labels))
            last_ece = 100 * expected_calibration_error(probs, labels, self.cfg.train.n_bins)
        out = {f"acc_s{k}": a for k, a in enumerate(accs)}
        out["acc_avg"], out["acc_last"] = sum(accs) / len(accs), accs[-1]
        out["pd"], out["ece_last"] = accs[0] - accs[-1], last_ece
        return {f"{prefix}{k}": v for k, v in out.items()}

    # ---- the cell's steps (``workers.cells``) ----------------------------------------------
    def train_epoch(self, epoch: int) -> dict[str, float]:
        k, local = divmod(epoch, self.per_session)
        if k > self.session:
            self._start_session(k)
        losses = fit_epoch(self.trainer, local)
        if local == self.per_session - 1:
            self._end_session()
        return {"epoch": epoch + 1, "session": k, **self.metrics("val"), **losses}

    def evaluate(self) -> dict[str, float]:
        """No training (zero-shot): every session's classes in turn, then the metrics."""
        while self.session < len(self.sessions) - 1:
            self._start_session(self.session + 1)
            self._end_session()
        return {"epoch": 0, **self.metrics("val")}

    def finish(self) -> TrialResult:
        if self.session < len(self.sessions) - 1:
            self.evaluate()
        probs, labels = self.predict("test")
        bins = reliability_bins(probs, labels, self.cfg.train.n_bins)
        diagram = ReliabilityDiagram(
            split="test",
            subset="seen",
            edges=tuple(bins.edges.tolist()),
            counts=tuple(int(c) for c in bins.counts.tolist()),
            accuracy=tuple(bins.accuracy.tolist()),
            confidence=tuple(bins.confidence.tolist()),
        )
        return TrialResult(
            metrics={**self.metrics("val"), **self.metrics("test", "test_")},
            reliability=[diagram],
            state=self.state(self.epochs - 1),
        )

    # ---- state ---------------------------------------------------------------------------
    def state(self, epoch: int) -> dict:
        local = epoch % self.per_session if self.per_session else -1
        return {
            "epoch": epoch,
            "done": list(self.done),
            "history": {k: list(v) for k, v in self.history.items()},
            "current": self.trainer.state(local) if self.trainer is not None else None,
        }

    def load(self, state: dict) -> int:
        """Back to the end of ``state``'s epoch; returns the next epoch."""
        epoch = int(state["epoch"])
        k, local = divmod(epoch, self.per_session)
        finished = k + 1 if local == self.per_session - 1 else k
        done = state["done"]
        for s in range(k + 1):
            self._start_session(s)
            if s < finished:
                with torch.no_grad():
                    self.trainer.learner.ctx.copy_(done[s]["ctx"])
                    self.trainer.weights.logits.copy_(done[s]["weights"])
                self.done.append(done[s])
        if finished == k:  # mid-session: its trainer continues
            self.trainer.load(state["current"])
        self.history = {key: [tuple(v) for v in value] for key, value in state["history"].items()}
        return epoch + 1


def start_incremental(
    cfg: TrialConfig, cell: Cell, *, clip: Clip, resume_state: dict | None = None
) -> tuple[IncrementalRun, int]:
    run = IncrementalRun(clip, cfg, cell.sessions)
    return run, run.load(resume_state) if resume_state is not None else 0
