"""The spec's search space as an Optuna define-by-run function, and the samplers.

Dimensions are sampled in spec order; one with ``when`` is sampled only when the values
decided so far (fixed spec values, a named point's constants, earlier dimensions) match.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from orchestrator.spec import Dimension, Spec
from workers.errors import ConfigError

POINT_ATTR = "orch_point"  # user attribute carrying a named point's name
CONSTANTS_ATTR = "orch_constants"  # and its values that are not search dimensions


def flatten(trial_dict: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {f"{s}.{k}": v for s, section in trial_dict.items() for k, v in section.items()}


def active(dim: Dimension, values: Mapping[str, Any]) -> bool:
    return not dim.when or all(values.get(k) == v for k, v in dim.when.items())


def suggest(trial, space: Mapping[str, Dimension], fixed: Mapping[str, Any]) -> dict[str, Any]:
    """Sample every active dimension on ``trial`` (an Optuna trial). -> {trial path: value}"""
    values = dict(fixed)
    chosen: dict[str, Any] = {}
    for key, dim in space.items():
        if not active(dim, values):
            continue
        if dim.kind == "fixed":
            value = dim.value
        elif dim.kind == "choices":
            value = trial.suggest_categorical(key, dim.choices)
        elif dim.int_:
            value = trial.suggest_int(
                key, int(dim.low), int(dim.high), step=int(dim.step or 1), log=dim.log
            )
        else:
            value = trial.suggest_float(key, dim.low, dim.high, step=dim.step, log=dim.log)
        values[key] = chosen[key] = value
    return chosen


class SpaceSampler:
    """The define-by-run function OptunaSearch calls per trial (a class: Ray pickles it with
    the searcher's state). Returns a named point's constants."""

    def __init__(self, spec: Spec) -> None:
        self.fixed = flatten(spec.trial.to_dict())
        self.space = dict(spec.sweep.space)

    def __call__(self, trial) -> dict[str, Any]:
        constants = dict(trial.user_attrs.get(CONSTANTS_ATTR, {}))
        suggest(trial, self.space, {**self.fixed, **constants})
        point = trial.user_attrs.get(POINT_ATTR)
        return {**constants, **({"orch_point": point} if point else {})}


def grid(space: Mapping[str, Dimension]) -> dict[str, list[Any]]:
    """Every dimension's values for Optuna's GridSampler (ranges need a ``step``)."""
    values = {}
    for key, dim in space.items():
        if dim.kind == "choices":
            values[key] = list(dim.choices)
        elif dim.kind == "range":
            if not dim.step:
                raise ConfigError(f"space.{key}: the grid sampler needs choices or a step")
            count = int(round((dim.high - dim.low) / dim.step)) + 1
            values[key] = [dim.low + i * dim.step for i in range(count)]
            if dim.int_:
                values[key] = [int(v) for v in values[key]]
    return values


def grid_size(space: Mapping[str, Dimension]) -> int:
    return len(list(itertools.product(*grid(space).values())))


def create_sampler(spec: Spec):
    import optuna

    search = spec.sweep.search
    seed = search.seed
    if search.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if search.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if search.sampler == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.GridSampler(grid(spec.sweep.space), seed=seed)
