"""A sweep's wall-time budget (``search.time_budget_s``) as a Ray Tune stopper.

When it is spent, Tune stops every running trial and starts no new one; the sweep then ends
normally and selects among the configurations that finished. Only time the sweep runs counts:
a resumed sweep goes on with what was left (the stopper is saved with the experiment).
"""

from __future__ import annotations

import time

from ray.tune.stopper import Stopper


class TimeBudget(Stopper):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.used = 0.0
        self.spent = False  # read by the MLflow callback to say why a trial was stopped
        self._last: float | None = None

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False  # the budget is the sweep's, not any one trial's

    def stop_all(self) -> bool:
        now = time.monotonic()
        if self._last is not None:
            self.used += now - self._last
        self._last = now
        self.spent = self.spent or self.used >= self.seconds
        return self.spent

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_last": None}  # a monotonic clock means nothing elsewhere
