"""Few-shot class-incremental learning on the toy world: the K-prompt mixture in a real trial,
the baselines, resume across sessions, and a sweep's per-session metrics in MLflow."""

from copy import deepcopy

import pytest
import torch

from orchestrator.spec.baselines import baseline_overrides
from tests.helpers import ROOT, run_orch
from tests.integration.test_sweep import cells_of, children, client_for
from workers.cells import run_protocol
from workers.config import TrialConfig
from workers.incremental import IncrementalRun
from workers.model import create_clip
from workers.protocol import Protocol, SessionPlan

PLAN = SessionPlan(base_classes=40, sessions=2, ways=8, shots=2)
TINY = {
    "data.dataset": "toy_source",
    "data.shots": 4,
    "data.n_views": 1,
    "data.crop_scale_min": 0.5,
    "train.epochs": 2,
    "train.weight_epochs": 1,
    "method.pool_size": 200,
}
COCOA = {**baseline_overrides("cocoa_mix"), "method.lam": 4.0}


def config(**overrides) -> TrialConfig:
    return TrialConfig().with_overrides({**TINY, **overrides})


@pytest.fixture(scope="module")
def clip():
    return create_clip("toyclip", pretrained="toyworld")


def test_the_base_session_predicts_exactly_as_its_two_prompt_trial(clip):
    run = IncrementalRun(clip, config(**COCOA), PLAN)
    for epoch in range(run.per_session):  # the base session only: K = 1
        run.train_epoch(epoch)
    probs, labels = run.predict("test")
    data = run.episodes[0].sets["session"].test
    torch.testing.assert_close(probs, run.trainer.probs(data.feats, "session").cpu())
    assert torch.equal(labels, data.labels)
    assert run.history["test"][0][0] == pytest.approx(
        100 * (probs.argmax(-1) == labels).float().mean().item()
    )


def test_zero_shot_classifies_every_seen_class_with_the_template(clip):
    cfg = config(**baseline_overrides("zero_shot"))
    run = IncrementalRun(clip, cfg, PLAN)
    final = run.finish().metrics
    sets = [ep.sets["session"] for ep in run.episodes]
    offsets = [0, 40, 48]
    for k in range(3):  # an independent computation over sessions 0..k
        feats = torch.cat([s.test.feats for s in sets[: k + 1]])
        labels = torch.cat(
            [s.test.labels + o for s, o in zip(sets[: k + 1], offsets, strict=False)]
        )
        text = torch.cat([s.zero_shot for s in sets[: k + 1]])
        acc = ((feats @ text.T).argmax(-1) == labels).float().mean().item()
        assert final[f"test_acc_s{k}"] == pytest.approx(100 * acc, abs=1e-4)
    assert final["test_pd"] == pytest.approx(final["test_acc_s0"] - final["test_acc_s2"])
    assert final["test_acc_avg"] == pytest.approx(
        sum(final[f"test_acc_s{k}"] for k in range(3)) / 3
    )


def test_sequential_coop_carries_one_prompt_and_per_session_coop_keeps_each(clip):
    carried = IncrementalRun(clip, config(**baseline_overrides("coop_sequential")), PLAN)
    for epoch in range(carried.per_session):
        carried.train_epoch(epoch)
    after_base = carried.trainer.learner.ctx.detach().clone()
    carried.train_epoch(carried.per_session)  # the first epoch of session 1
    assert carried.session == 1
    moved = (carried.trainer.learner.ctx.detach() - after_base).abs().max().item()
    assert 0 < moved < 0.1  # went on from the base session's prompt, not from its init
    fresh = IncrementalRun(clip, config(**baseline_overrides("coop")), PLAN)
    for epoch in range(fresh.per_session + 1):
        fresh.train_epoch(epoch)
    assert len(fresh.done) == 1 and fresh.session == 1  # the base prompt kept, a new one learning


@pytest.mark.parametrize("stop_after", [3, 4])  # the base session's end, mid-session 1
def test_an_incremental_cell_resumes_exactly(stop_after):
    cfg, protocol = config(**COCOA), Protocol(kind="incremental", **vars(PLAN))
    reports = []
    full = run_protocol(cfg, protocol, report=lambda m, c, s: reports.append((m, deepcopy(s))))
    metrics, state = reports[stop_after - 1]
    assert metrics["epoch"] == stop_after
    resumed = run_protocol(cfg, protocol, resume_state=state)
    for key, value in full.metrics.items():
        if not key.startswith("cost_"):
            assert resumed.metrics[key] == pytest.approx(value, abs=1e-5), key


@pytest.mark.slow
def test_an_incremental_sweep_leaves_per_session_metrics_for_every_cell(tmp_path):
    spec = str(ROOT / "search_spaces" / "incremental.yaml")
    sets = [f"{k}={v}" for k, v in TINY.items() if k != "data.dataset"]
    sets += [f"protocol.{k}={v}" for k, v in vars(PLAN).items()]
    sets += ["protocol.seeds=[1, 2]", "search.num_trials=2"]
    result = run_orch("sweep", spec, *[a for s in sets for a in ("--set", s)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "acc_avg" in result.stdout
    client = client_for(tmp_path)
    (parent,), configs = children(client, "incremental-toy")
    assert len(configs) == 2 and {c.info.status for c in configs} == {"FINISHED"}
    assert {c.data.tags.get("point") for c in configs} == {"zero_shot", "coop_sequential"}
    for config_run in configs:
        cells = cells_of(client, config_run)
        assert sorted(c.data.tags["seed"] for c in cells) == ["1", "2"]
        for cell in cells:
            for key in ("acc_s0", "acc_s1", "acc_s2", "test_acc_s2", "test_acc_avg", "test_pd"):
                assert key in cell.data.metrics, (key, sorted(cell.data.metrics))
            steps = {m.step for m in client.get_metric_history(cell.info.run_id, "acc_avg")}
            if config_run.data.params["train.epochs"] != "0":  # zero-shot reports once
                assert set(range(1, 3 * 2 + 1)) <= steps  # every epoch of every session
        mean = sum(c.data.metrics["test_acc_avg"] for c in cells) / 2
        assert config_run.data.metrics["test_acc_avg"] == pytest.approx(mean, abs=1e-6)
    assert parent.data.tags["orch.objectives"] == "acc_avg:max,ece_last:min"
