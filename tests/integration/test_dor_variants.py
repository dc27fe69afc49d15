"""DOR's variants in a real trial on the toy world: composed terms, the image adapter with
visual DOR, textual divergence, resume with an adapter."""

import pytest
import torch
import torch.nn.functional as F

from orchestrator.spec.baselines import baseline_overrides
from tests.integration.test_trial import SMALL, state_after_epoch
from workers.config import TrialConfig
from workers.episode import prepare_episode
from workers.model import create_clip
from workers.trial import Trainer, run_trial

OUTLIERS = {"method.image_outliers": "toy_glyphs"}  # no class shared with toyworld


def config(baseline: str, **more) -> TrialConfig:
    return TrialConfig().with_overrides({**SMALL, **baseline_overrides(baseline), **more})


@pytest.fixture(scope="module")
def clip():
    return create_clip("toyclip", pretrained="toyworld")


def first_step_terms(clip, cfg) -> set[str]:
    trainer = Trainer(clip, cfg, prepare_episode(clip, cfg))
    img, labels = next(trainer.batches())
    return {k for k in trainer.prompt_step(img, labels, new_epoch=True) if k.startswith("loss_")}


def test_baselines_compose_exactly_their_terms(clip):
    assert first_step_terms(clip, config("coop")) == {"loss_ce"}
    assert first_step_terms(clip, config("kgcoop")) == {"loss_ce", "loss_kg"}
    assert first_step_terms(clip, config("kgcoop_dor")) == {"loss_ce", "loss_kg", "loss_dor"}
    adapter = config("adapter_dor", **OUTLIERS)
    assert first_step_terms(clip, adapter) == {"loss_ce", "loss_dor_visual"}
    both = config("adapter_dor", **OUTLIERS, **{"method.lam": 8.0, "prompt.frozen": False})
    assert first_step_terms(clip, both) == {"loss_ce", "loss_dor", "loss_dor_visual"}


def test_reported_divergence_is_the_mean_cosine_gap_of_each_label_set(clip):
    cfg = config("coop")
    trainer = Trainer(clip, cfg, prepare_episode(clip, cfg))
    with torch.no_grad():
        trainer.learner.ctx.add_(0.05 * torch.randn_like(trainer.learner.ctx))
    reported = trainer.evaluate("val")
    for subset in ("base", "new"):
        with torch.no_grad():
            tuned = trainer.tuned(trainer.frozen[subset]).float()
        zero = trainer.ep.sets[subset].zero_shot.float()
        cos = (tuned * zero).sum(-1) / (tuned.norm(dim=-1) * zero.norm(dim=-1))
        assert reported[f"div_{subset}"] == pytest.approx((1 - cos).mean().item(), abs=1e-6)
        assert reported[f"div_{subset}"] > 1e-4  # the perturbed context moved the features
    assert "div_base" not in trainer.evaluate("test")  # once per evaluation, never test_div


def trained_adapter(clip, lam_visual: float) -> Trainer:
    cfg = config(
        "adapter_dor",
        **OUTLIERS,
        **{"method.lam_visual": lam_visual, "train.lr": 0.5, "train.epochs": 4},
    )
    trainer = Trainer(clip, cfg, prepare_episode(clip, cfg))
    for epoch in range(cfg.train.epochs):
        trainer.train_epoch(epoch)
    return trainer


def test_visual_dor_keeps_outlier_images_where_the_frozen_tower_put_them(clip):
    free, held = trained_adapter(clip, 0.0), trained_adapter(clip, 32.0)
    outliers = held.ep.image_outliers.float()  # only a visual-DOR episode loads them
    assert len(outliers) > 0 and len(free.ep.image_outliers) == 0
    with torch.no_grad():
        similarity = {
            name: F.cosine_similarity(t.adapter(outliers), outliers, dim=-1).mean().item()
            for name, t in (("free", free), ("held", held))
        }
    drift = {name: 1 - value for name, value in similarity.items()}  # 1 - cos to the frozen
    assert drift["free"] > 1e-3, drift  # without it the adapter moves the outlier images
    assert drift["held"] < 0.1 * drift["free"], drift  # visual DOR keeps them in place


def test_an_adapter_trial_resumes_exactly(tmp_path):
    cfg = config("adapter_dor", **OUTLIERS, **{"train.epochs": 3, "train.lr": 0.05})
    full = run_trial(cfg)
    resumed = run_trial(cfg, resume_state=state_after_epoch(cfg, 2, tmp_path))
    assert resumed.metrics == pytest.approx(full.metrics, abs=1e-6)
    for key, value in full.state["adapter"].items():
        assert torch.equal(resumed.state["adapter"][key], value)
