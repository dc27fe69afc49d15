"""Multi-objective asynchronous successive halving as a Ray Tune scheduler.

ASHA ranks a rung on one metric, so with HM and ECE it must pick one and ignore the other.
MOASHA (Schmucker et al., 2021; Syne Tune's reference design) ranks it on all of them by
non-dominated sorting: at each rung (``grace_period * reduction_factor ** k`` reports) a
trial goes on only if it is among the best ``1/reduction_factor`` of the trials that reached
that rung, itself included, by front and then crowding distance (``orchestrator.search.rungs``).
A stopped trial reaches the Optuna study as PRUNED, as under ASHA.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ray.tune.schedulers.trial_scheduler import FIFOScheduler, TrialScheduler

from orchestrator.search.rungs import milestones, moasha_continues
from orchestrator.selection.rule import Objective


class MultiObjectiveAsha(FIFOScheduler):
    def __init__(
        self,
        objectives: Sequence[Objective],
        *,
        grace_period: int,
        reduction_factor: float,
        time_attr: str = "training_iteration",
        max_t: int = 1000,
    ) -> None:
        super().__init__()
        self.objectives = list(objectives)
        self.reduction_factor = reduction_factor
        self.time_attr = time_attr
        # epoch -> {trial id: its oriented objective values there}
        self.rungs: dict[int, dict[str, tuple[float, ...]]] = {
            m: {} for m in milestones(grace_period, reduction_factor, max_t)
        }
        self.stopped = 0

    def set_search_properties(self, metric, mode, **spec) -> bool:
        return True  # the objectives come with the scheduler

    def _values(self, result: dict) -> tuple[float, ...] | None:
        values = []
        for objective in self.objectives:
            value = result.get(objective.metric)
            if not isinstance(value, int | float) or value != value:
                return None
            values.append(value if objective.mode == "max" else -value)
        return tuple(values)

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        values = self._values(result)
        reached = result.get(self.time_attr)
        if values is None or reached is None:
            return TrialScheduler.CONTINUE
        # the highest rung reached and not yet recorded decides, as in Ray's ASHA
        for milestone in sorted(self.rungs, reverse=True):
            recorded = self.rungs[milestone]
            if reached < milestone or trial.trial_id in recorded:
                continue
            goes_on = moasha_continues(list(recorded.values()), values, self.reduction_factor)
            recorded[trial.trial_id] = values
            if not goes_on:
                self.stopped += 1
                return TrialScheduler.STOP
            break
        return TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        pass  # a finished trial's rungs were recorded as it reached them

    def debug_string(self) -> str:
        filled = ", ".join(f"{m}: {len(r)}" for m, r in sorted(self.rungs.items()) if r)
        return f"MultiObjectiveAsha: {self.stopped} stopped; trials per rung {{{filled}}}"

    def save(self, checkpoint_path: str) -> None:
        # plain JSON: a resumed sweep reads back numbers, never code
        state = {
            "stopped": self.stopped,
            "rungs": {str(m): {t: list(v) for t, v in r.items()} for m, r in self.rungs.items()},
        }
        with open(checkpoint_path, "w") as out:
            json.dump(state, out)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path) as saved:
            state = json.load(saved)
        self.stopped = state["stopped"]
        self.rungs = {
            int(m): {t: tuple(v) for t, v in r.items()} for m, r in state["rungs"].items()
        }
