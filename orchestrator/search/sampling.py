"""The search space as Optuna sees it: a define-by-run function sampling the spec's
dimensions under their short names, the grid for Optuna's GridSampler, and the user
attributes that carry a named point through the study.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.spec.load import Spec
from orchestrator.spec.schema import Dimension
from orchestrator.spec.space import active
from workers.errors import ConfigError

POINT_ATTR = "orch_point"  # user attribute carrying a named point's name
CONSTANTS_ATTR = "orch_constants"  # and its values that are not search dimensions


def suggest(
    trial,
    space: Mapping[str, Dimension],
    fixed: Mapping[str, Any],
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Sample every active dimension on ``trial`` (an Optuna trial), each under its name in
    ``names`` (default: its path). -> {trial path: value}"""
    names = names or {}
    values = dict(fixed)
    chosen: dict[str, Any] = {}
    for key, dim in space.items():
        if not active(dim, values):
            continue
        name = names.get(key, key)
        if dim.kind == "fixed":
            value = dim.value
        elif dim.kind == "choices":
            value = trial.suggest_categorical(name, dim.choices)
        elif dim.int_:
            value = trial.suggest_int(
                name, int(dim.low), int(dim.high), step=int(dim.step or 1), log=dim.log
            )
        else:
            value = trial.suggest_float(name, dim.low, dim.high, step=dim.step, log=dim.log)
        values[key] = chosen[key] = value
    return chosen


class SpaceSampler:
    """The define-by-run function OptunaSearch calls per trial (a class: Ray pickles it with
    the searcher's state). A named point's constants decide its conditional dimensions."""

    def __init__(self, spec: Spec) -> None:
        self.fixed = spec.trial.flat()
        self.space = spec.space
        self.names = spec.space.names

    def __call__(self, trial) -> None:
        constants = dict(trial.user_attrs.get(CONSTANTS_ATTR, {}))
        suggest(trial, self.space, {**self.fixed, **constants}, self.names)


def grid(
    space: Mapping[str, Dimension], names: Mapping[str, str] | None = None
) -> dict[str, list[Any]]:
    """Every dimension's values for Optuna's GridSampler (ranges need a ``step``), keyed by
    the names the sampler's trials use (default: the paths)."""
    names = names or {}
    values = {}
    for key, dim in space.items():
        name = names.get(key, key)
        if dim.kind == "choices":
            values[name] = list(dim.choices)
        elif dim.kind == "range":
            if not dim.step:
                raise ConfigError(f"space.{key}: the grid sampler needs choices or a step")
            count = int(round((dim.high - dim.low) / dim.step)) + 1
            values[name] = [dim.low + i * dim.step for i in range(count)]
            if dim.int_:
                values[name] = [int(v) for v in values[name]]
    return values
