"""The trial on the toy world: baselines, resume, and the method's correctness properties."""

import math

import pytest
import torch
import torch.nn.functional as F

from workers import trial
from workers.config import TrialConfig
from workers.episode import prepare_episode
from workers.losses import dor_loss
from workers.mixture import OUT, SPECIALIZED
from workers.model import create_clip
from workers.prompts import create_prompt_learner, encode_prompts, freeze_prompts
from workers.trial import Trainer, run_trial

SMALL = {
    "data.shots": 4,
    "data.n_views": 2,
    "data.crop_scale_min": 0.5,
    "train.epochs": 2,
    "train.batch_size": 32,
    "method.pool_size": 300,
    "train.weight_epochs": 2,
}


def small(**overrides) -> TrialConfig:
    return TrialConfig().with_overrides(
        {**SMALL, **{k.replace("__", "."): v for k, v in overrides.items()}}
    )


@pytest.fixture(scope="module")
def clip():
    return create_clip("toyclip", pretrained="toyworld")


def test_coop_equals_a_plain_coop_loop(clip):
    cfg = small(method__w=0.0, method__lam=0.0, method__mixture=False, train__warmup_epochs=0)
    episode = prepare_episode(clip, cfg)
    trainer = Trainer(clip, cfg, episode)
    for epoch in range(cfg.train.epochs):
        trainer.train_epoch(epoch)

    # an independent plain CoOp loop: CE only, SGD, cosine lr, same seed and batch draws
    torch.manual_seed(cfg.train.seed)
    learner = create_prompt_learner(clip, n_ctx=4, ctx_init="a photo of a")
    frozen = freeze_prompts(clip, episode.sets["base"].names, 4)
    opt = torch.optim.SGD([learner.ctx], lr=cfg.train.lr, momentum=0.9)
    gen = torch.Generator().manual_seed(cfg.train.seed)
    n = episode.train_labels.shape[0]
    for epoch in range(cfg.train.epochs):
        opt.param_groups[0]["lr"] = (
            0.5 * cfg.train.lr * (1 + math.cos(math.pi * epoch / cfg.train.epochs))
        )
        order = torch.randperm(n, generator=gen)
        view = torch.randint(cfg.data.n_views, (n,), generator=gen)
        for start in range(0, n, cfg.train.batch_size):
            idx = order[start : start + cfg.train.batch_size]
            img = episode.train_views[view[idx], idx]
            logits = clip.logit_scale * img @ encode_prompts(clip, learner, frozen).T
            loss = F.cross_entropy(logits, episode.train_labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    torch.testing.assert_close(trainer.learner.ctx, learner.ctx, atol=1e-6, rtol=0)
    assert not torch.equal(learner.ctx, create_prompt_learner(clip, n_ctx=4).ctx)  # it trained


def test_one_stage_weights_never_move_the_context_and_always_use_sgd(clip):
    mixed = small(method__w=2.0, method__mixture=True, method__optimization="one_stage")
    mixed = mixed.with_overrides({"train.optimizer": "adam"})
    plain = mixed.with_overrides({"method.mixture": False})
    trainers = {}
    for name, cfg in (("mixed", mixed), ("plain", plain)):
        trainers[name] = Trainer(clip, cfg, prepare_episode(clip, cfg))
        for epoch in range(cfg.train.epochs):
            trainers[name].train_epoch(epoch)
    # the mixture's CE and entropy hinge trained the weights, and nothing else
    torch.testing.assert_close(trainers["mixed"].learner.ctx, trainers["plain"].learner.ctx)
    assert not torch.equal(trainers["mixed"].weights.logits, trainers["plain"].weights.logits)
    trainer = trainers["mixed"]
    assert isinstance(trainer.opt, torch.optim.Adam)
    assert isinstance(trainer.weight_opt, torch.optim.SGD)
    in_prompt_opt = {id(p) for group in trainer.opt.param_groups for p in group["params"]}
    assert id(trainer.weights.logits) not in in_prompt_opt


def test_dor_is_zero_at_the_template_context(clip):
    cfg = small(method__lam=8.0)
    trainer = Trainer(clip, cfg, prepare_episode(clip, cfg))
    with torch.no_grad():
        assert dor_loss(*trainer.outliers(32, new_epoch=True)).item() == pytest.approx(0, abs=1e-5)


def test_large_margin_drives_new_class_mixture_to_zero_shot(clip):
    cfg = small(
        method__mixture=True,
        method__d=20.0,
        method__w=2.0,
        train__weight_lr=2.0,
        train__weight_epochs=6,
    )
    episode = prepare_episode(clip, cfg)
    trainer = Trainer(clip, cfg, episode)
    for epoch in range(cfg.train.epochs):
        trainer.train_epoch(epoch)
    before = trainer.weights.group(OUT)[SPECIALIZED].item()
    for _ in range(cfg.train.weight_epochs):
        trainer.weight_epoch()
    after = trainer.weights.group(OUT)[SPECIALIZED].item()
    assert after < 0.05 < before
    feats = episode.sets["new"].val.feats
    zero_shot = (clip.logit_scale * feats @ episode.sets["new"].zero_shot.T).softmax(-1)
    torch.testing.assert_close(trainer.probs(feats, "new"), zero_shot, atol=0.05, rtol=0)


@pytest.mark.parametrize(
    "baseline",
    [
        {"method.w": 0.0, "method.lam": 0.0, "method.mixture": False, "train.epochs": 0},
        {"method.lam_kg": 8.0},
        {"method.lam": 8.0, "method.resample_every": "epoch"},
        {"method.w": 2.0, "method.mixture": True, "method.d": 0.5, "train.optimizer": "adam"},
        {
            "method.w": 2.0,
            "method.mixture": True,
            "method.lam": 8.0,
            "method.optimization": "one_stage",
        },
    ],
)
def test_every_baseline_reports_the_named_metrics(baseline):
    reports = []
    result = run_trial(small().with_overrides(baseline), report=lambda m, s: reports.append(m))
    final = result.metrics
    for name in ("base_acc", "new_acc", "hm", "ece_base", "ece_new", "ece"):
        assert 0 <= final[name] <= 100 and 0 <= final[f"test_{name}"] <= 100
        assert all(name in r for r in reports)
    assert reports and [r["epoch"] for r in reports] == sorted(r["epoch"] for r in reports)
    assert final["hm"] == pytest.approx(
        2 * final["base_acc"] * final["new_acc"] / (final["base_acc"] + final["new_acc"]), rel=1e-6
    )


def test_shared_prefix_and_buckets_do_not_change_a_trial(monkeypatch):
    cfg = small(method__lam=8.0, method__w=2.0, method__outlier_vocab="random_strings")
    packed = run_trial(cfg.with_overrides({"prompt.shared_prefix": True})).metrics
    monkeypatch.setattr(trial, "OUTLIER_BUCKETS", 1)  # outliers in one batch, too
    ordinary = run_trial(cfg.with_overrides({"prompt.shared_prefix": False})).metrics
    assert packed == pytest.approx(ordinary, abs=1e-4)


def test_zero_shot_baseline_equals_the_template(clip):
    cfg = small(train__epochs=0)
    final = run_trial(cfg).metrics
    episode = prepare_episode(clip, cfg)
    probs = (
        clip.logit_scale * episode.sets["new"].test.feats @ episode.sets["new"].zero_shot.T
    ).softmax(-1)
    acc = 100 * (probs.argmax(-1) == episode.sets["new"].test.labels).float().mean().item()
    assert final["test_new_acc"] == pytest.approx(acc, abs=1e-4)


def state_after_epoch(cfg: TrialConfig, epoch: int, folder) -> dict:
    """The state a trial interrupted after ``epoch`` reported, saved and loaded back as the
    trainable's Tune checkpoint is."""
    states = {}

    def stop(metrics, state):
        states[metrics["epoch"]] = state
        if metrics["epoch"] == epoch:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_trial(cfg, report=stop)
    torch.save(states[epoch], folder / "state.pt")
    return torch.load(folder / "state.pt", weights_only=True)


def test_resume_continues_from_a_reported_state(tmp_path):
    cfg = small(train__epochs=3)
    full = run_trial(cfg)
    resumed_epochs = []
    resumed = run_trial(
        cfg,
        report=lambda m, s: resumed_epochs.append(m["epoch"]),
        resume_state=state_after_epoch(cfg, 2, tmp_path),
    )
    assert resumed_epochs == [3]
    assert resumed.metrics == pytest.approx(full.metrics, abs=1e-6)
    assert torch.equal(resumed.state["ctx"], full.state["ctx"])
    shown = [(d.split, d.subset) for d in full.reliability]
    assert shown == [("val", "base"), ("val", "new"), ("test", "base"), ("test", "new")]
    for diagram in full.reliability:  # the diagrams hold the reported ECE of their split
        prefix = "test_" if diagram.split == "test" else ""
        assert diagram.ece == pytest.approx(full.metrics[f"{prefix}ece_{diagram.subset}"], abs=1e-4)


def test_class_features_are_encoded_once_per_prompt_state_and_follow_every_change(clip):
    cfg = small(method__lam=2.0, method__mixture=False)
    trainer = Trainer(clip, cfg, prepare_episode(clip, cfg))
    encodes = []
    tuned = trainer.tuned
    trainer.tuned = lambda frozen, **kw: encodes.append(1) or tuned(frozen, **kw)

    def fresh(name):  # what the trainer would compute without remembering anything
        with torch.no_grad():
            return tuned(trainer.frozen[name])

    first = trainer.evaluate("val")
    assert len(encodes) == len(trainer.ep.sets)  # accuracy and divergence share one encoding
    assert trainer.evaluate("test", "test_") and len(encodes) == len(trainer.ep.sets)
    trainer.train_epoch(0)  # the prompt moved: features are encoded anew
    after = trainer.evaluate("val")
    for name in trainer.ep.sets:
        torch.testing.assert_close(trainer.class_features(name), fresh(name), atol=0, rtol=0)
    assert after != first
    state = trainer.state(0)
    trainer.train_epoch(1)
    trainer.load(state)  # back to the saved prompt: its features, not the last ones
    for name in trainer.ep.sets:
        torch.testing.assert_close(trainer.class_features(name), fresh(name), atol=0, rtol=0)
