"""The sweep's Optuna searcher: samplers, named points, and what it hands to each trial.

Imports Ray Tune and Optuna: load it only to run a sweep.
"""

from __future__ import annotations

import optuna
from ray.tune.search.optuna import OptunaSearch

from orchestrator.space import CONSTANTS_ATTR, POINT_ATTR, SpaceSampler, grid
from orchestrator.spec import Spec
from workers.messages import is_final, searched


def create_sampler(spec: Spec) -> optuna.samplers.BaseSampler:
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


class SweepSearch(OptunaSearch):
    """OptunaSearch over the spec's define-by-run space, with two changes.

    - ``suggest`` hands each trial its searched values and a named point's constants as one
      ``overrides`` mapping, beside the point's name (``workers.messages.searched``).
    - A trial stopped early (by ASHA) reaches Optuna as PRUNED, not COMPLETE: Ray hands its
      last epoch to ``on_trial_complete`` as if it were final, and Optuna would then rank a
      partial score. Only a trial's last report is marked final.
    """

    @classmethod
    def from_spec(cls, spec: Spec) -> SweepSearch:
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # the progress lines say enough
        objectives = spec.sweep.objectives
        many = len(objectives) > 1
        searcher = cls(
            space=SpaceSampler(spec),
            metric=[o.metric for o in objectives] if many else objectives[0].metric,
            mode=[o.mode for o in objectives] if many else objectives[0].mode,
            sampler=create_sampler(spec),
        )
        space = spec.sweep.space
        for point in spec.sweep.search.points_to_evaluate:
            values = {k: v for k, v in point.values.items() if k in space}
            constants = {k: v for k, v in point.values.items() if k not in space}
            searcher._ot_study.enqueue_trial(
                values, user_attrs={POINT_ATTR: point.name, CONSTANTS_ATTR: constants}
            )
        return searcher

    def suggest(self, trial_id: str) -> dict | None:
        sampled = super().suggest(trial_id)
        if not isinstance(sampled, dict):
            return sampled
        attrs = self._ot_trials[trial_id].user_attrs
        return searched({**attrs.get(CONSTANTS_ATTR, {}), **sampled}, attrs.get(POINT_ATTR))

    def on_trial_complete(self, trial_id, result=None, error=False):
        if result is not None and not error and not is_final(result):
            result = None  # OptunaSearch tells Optuna PRUNED when there is no value
        super().on_trial_complete(trial_id, result, error)
