"""Entry points the CLI calls into the data plane (imported lazily: they pull in torch)."""

from __future__ import annotations

from pathlib import Path

import torch

from workers.errors import ConfigError
from workers.model import create_clip
from workers.zero_shot import evaluate_zero_shot


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present; an explicit ``cuda`` without a GPU is a user error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device '{device}' requested but no CUDA GPU is visible; use cpu or auto"
        )
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device '{device}'; use cpu, cuda or auto") from exc


def evaluate_zero_shot_cli(
    *,
    dataset: str,
    root: Path,
    model: str,
    pretrained: str | None,
    checkpoint: Path | None,
    template: str,
    split: str,
    device: str,
) -> dict:
    if template.count("{}") != 1:
        raise ConfigError(
            f"template must contain exactly one '{{}}' for the class name, got {template!r}"
        )
    clip = create_clip(
        model, pretrained=pretrained, checkpoint=checkpoint, device=resolve_device(device)
    )
    metrics = evaluate_zero_shot(clip, dataset=dataset, root=root, template=template, split=split)
    return {
        "dataset": dataset,
        "model": model,
        "pretrained": pretrained if checkpoint is None else str(checkpoint),
        "template": template,
        "split": split,
        **{k: round(v, 2) for k, v in metrics.items()},
    }
