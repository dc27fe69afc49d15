"""Spec files: YAML turned into typed, validated objects at the edge.

A spec holds the trial's sections (``model``, ``data``, ``prompt``, ``method``, ``train``);
the sweep's sections join them as the sweep lands. Errors name the file and the key path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from workers.config import TrialConfig
from workers.errors import ConfigError

TRIAL_SECTIONS = ("model", "data", "prompt", "method", "train")


@dataclass(frozen=True)
class Spec:
    path: Path
    trial: TrialConfig


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["method.w=2", "data.dataset=dtd"]`` -> ``{"method.w": 2, "data.dataset": "dtd"}``."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key.path=value, got {pair!r}")
        overrides[key.strip()] = yaml.safe_load(value) if value else None
    return overrides


def load_spec(path: str | Path, overrides: dict[str, Any] | None = None) -> Spec:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"spec file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: malformed YAML{where}: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a spec is a mapping of sections, got {type(raw).__name__}")
    for section, value in raw.items():
        if section in TRIAL_SECTIONS and not isinstance(value, dict):
            raise ConfigError(f"{path}: '{section}' must be a mapping, got {value!r}")
    trial_raw = {s: dict(v) for s, v in raw.items() if s in TRIAL_SECTIONS}
    unknown = [s for s in raw if s not in TRIAL_SECTIONS]
    try:
        if unknown:
            TrialConfig.from_dict({unknown[0]: {}})  # raises with a 'did you mean'
        trial = TrialConfig.from_dict(trial_raw).with_overrides(overrides or {})
    except (TypeError, ConfigError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return Spec(path=path, trial=trial)
