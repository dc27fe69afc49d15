"""Ray Tune's side of a trial: rebuild the typed config, run, report, checkpoint.

The config that crosses into Ray is plain data: ``{"trial": <TrialConfig as dict>,
"method.w": 2.0, ...}`` (the searched values as dotted overrides). The final report carries
the test metrics, the reliability-diagram bins and the node the trial ran on; the driver
logs everything to MLflow.
"""

from __future__ import annotations

import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from workers.config import CHECKPOINT, FINAL_KEY, TrialConfig
from workers.episode import prepare_episode
from workers.model import create_clip
from workers.runtime import resolve_device
from workers.trial import run_trial

__all__ = ["FINAL_KEY", "fill_cache", "train_trial", "trial_config"]


def trial_config(config: dict[str, Any]) -> TrialConfig:
    overrides = {k: v for k, v in config.items() if "." in k}
    return TrialConfig.from_dict(config["trial"]).with_overrides(overrides)


def node_name() -> str:
    try:
        import ray

        node = ray.get_runtime_context().get_node_id()
        return f"{platform.node()}:{node[:8]}"
    except Exception:  # outside Ray
        return platform.node()


def train_trial(config: dict[str, Any]) -> None:
    """The function trainable handed to ``ray.tune.Tuner``."""
    from ray import tune

    cfg = trial_config(config)
    work = Path(tempfile.mkdtemp(prefix="orch-trial-"))
    restored = tune.get_checkpoint()
    if restored is not None:
        with restored.as_directory() as folder:
            shutil.copy(Path(folder) / CHECKPOINT, work / CHECKPOINT)

    def report(metrics: dict[str, float], state: dict | None) -> None:
        if state is None:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory() as folder:
            torch.save(state, Path(folder) / CHECKPOINT)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))

    diagnostics: dict = {}
    final = run_trial(
        cfg,
        report=report,
        checkpoint_dir=work,
        cache=config.get("cache_dir"),
        diagnostics=diagnostics,
    )
    shutil.rmtree(work, ignore_errors=True)
    state = diagnostics.pop("prompt_state")
    with tempfile.TemporaryDirectory() as folder:  # the final checkpoint: the learned prompt
        torch.save(state, Path(folder) / CHECKPOINT)
        tune.report(
            {**final, **diagnostics, "node": node_name(), "final": 1},
            checkpoint=tune.Checkpoint.from_directory(folder),
        )


def fill_cache(trial_dicts: list[dict[str, Any]], cache_dir: str | None) -> int:
    """Compute every image and text feature these trials will read, before any trial starts."""
    clips: dict = {}
    for raw in trial_dicts:
        cfg = trial_config(raw)
        if cfg.model not in clips:  # the episodes differ by seed or vocabulary, not by model
            clips[cfg.model] = create_clip(
                cfg.model.name,
                pretrained=cfg.model.pretrained,
                checkpoint=cfg.model.checkpoint,
                device=resolve_device(cfg.model.device),
            )
        clip = clips[cfg.model]
        prepare_episode(clip, cfg, cache=Path(cache_dir) if cache_dir else None)
    return len(trial_dicts)
