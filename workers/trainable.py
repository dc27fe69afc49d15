"""Ray Tune's side of a trial: rebuild the typed request, run, report, checkpoint.

The config Ray hands over is a ``TrialRequest`` as plain data (``workers.messages``). Every
epoch's report carries a Tune checkpoint of the trial's state (the only place trial state is
written); the last report, marked ``final``, adds the test metrics, the reliability diagrams
and the node the trial ran on. The driver logs everything to MLflow.
"""

from __future__ import annotations

import platform
import tempfile
from pathlib import Path
from typing import Any

import torch

from workers.episode import prepare_episode
from workers.messages import CHECKPOINT, FINAL, RELIABILITY, TrialRequest
from workers.model import load_clip
from workers.trial import run_trial

__all__ = ["fill_cache", "train_trial"]


def node_name() -> str:
    try:
        import ray

        node = ray.get_runtime_context().get_node_id()
        return f"{platform.node()}:{node[:8]}"
    except Exception:  # outside Ray
        return platform.node()


def _report(metrics: dict[str, Any], state: dict) -> None:
    from ray import tune

    with tempfile.TemporaryDirectory() as folder:
        torch.save(state, Path(folder) / CHECKPOINT)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


def _restored_state() -> dict | None:
    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        return torch.load(Path(folder) / CHECKPOINT, weights_only=True)


def train_trial(config: dict[str, Any]) -> None:
    """The function trainable handed to ``ray.tune.Tuner``."""
    cfg = TrialRequest.from_ray(config).config()
    result = run_trial(cfg, report=_report, resume_state=_restored_state())
    final = {
        **result.metrics,
        RELIABILITY: [d.to_dict() for d in result.reliability],
        "node": node_name(),
        FINAL: 1,
    }
    _report(final, result.state)  # its checkpoint is the learned prompt


def fill_cache(requests: list[TrialRequest]) -> int:
    """Compute every image and text feature these trials will read, before any trial starts."""
    clips: dict = {}
    for request in requests:
        cfg = request.config()
        if cfg.model not in clips:  # the episodes differ by seed or vocabulary, not by model
            clips[cfg.model] = load_clip(cfg.model)
        prepare_episode(clips[cfg.model], cfg)
    return len(requests)
