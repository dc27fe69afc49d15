"""The sweep's Optuna searcher (imports Ray Tune and Optuna: load it only to run a sweep)."""

from __future__ import annotations

from ray.tune.search.optuna import OptunaSearch

from workers.config import FINAL_KEY


class SweepSearch(OptunaSearch):
    """OptunaSearch that records early-stopped trials as PRUNED, not COMPLETE.

    Ray hands a scheduler-stopped trial's last epoch to ``on_trial_complete`` as if it were
    final; Optuna would then rank partial scores. Only a trial's last report has FINAL_KEY.
    """

    def on_trial_complete(self, trial_id, result=None, error=False):
        if result is not None and not error and FINAL_KEY not in result:
            result = None  # OptunaSearch tells Optuna PRUNED when there is no value
        super().on_trial_complete(trial_id, result, error)
