"""The papers' baselines as configurations of the same trial (spec overrides)."""

from __future__ import annotations

from typing import Any

from workers.errors import ConfigError

_COCOA = {
    "method.w": 2.0,
    "method.mixture": True,
    "method.d": 0.5,
    "train.optimizer": "adam",
    "train.lr": 0.002,
}
_PLAIN = {
    "method.w": 0.0,
    "method.lam": 0.0,
    "method.lam_kg": 0.0,
    "method.lam_visual": 0.0,
    "method.mixture": False,
    "method.adapter": False,
    "prompt.frozen": False,
    "method.session_prompts": "new",
}
_VISUAL = {"method.adapter": True, "prompt.frozen": True}

BASELINES: dict[str, dict[str, Any]] = {
    # no training: the learned prompt stays at its 'a photo of a' initialisation = the template
    "zero_shot": {**_PLAIN, "train.epochs": 0},
    # class-incremental: a new prompt per session, each class by its own session's prompt
    "coop": dict(_PLAIN),
    # class-incremental: one prompt fine-tuned session after session
    "coop_sequential": {**_PLAIN, "method.session_prompts": "carried"},
    "kgcoop": {**_PLAIN, "method.lam_kg": 8.0},
    "coop_dor": {**_PLAIN, "method.lam": 8.0},
    # DOR composes additively with KgCoOp (METHOD.md): both at their reference weight
    "kgcoop_dor": {**_PLAIN, "method.lam_kg": 8.0, "method.lam": 8.0},
    # CLIP-Adapter: the template prompt kept, a residual adapter on the image features
    "adapter": {**_PLAIN, **_VISUAL},
    # and visual DOR over outlier images (method.image_outliers comes from the spec)
    "adapter_dor": {**_PLAIN, **_VISUAL, "method.lam_visual": 8.0},
    # CoCoA-Mix trains its prompt with Adam at lr 0.002 (METHOD.md)
    "cocoa_mix": {**_PLAIN, **_COCOA},
    "cocoa_mix_dor": {**_PLAIN, **_COCOA, "method.lam": 8.0},
}


def baseline_overrides(name: str) -> dict[str, Any]:
    if name not in BASELINES:
        raise ConfigError(f"unknown baseline '{name}'; known: {', '.join(BASELINES)}")
    return dict(BASELINES[name])
