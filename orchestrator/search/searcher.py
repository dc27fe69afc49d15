"""The sweep's Optuna searcher: samplers, named points, its study's storage, and what it
hands to each trial.

The study lives in an Optuna journal file beside the Ray experiment (``optuna.journal``):
`optuna-dashboard <that file>` opens it while the sweep runs and after, with the objectives
named and every searched dimension under its short name. Ray pickles the searcher with the
experiment; the unpickled journal storage replays the file, so ``--resume`` goes on writing
the same study.

Imports Ray Tune and Optuna: load it only to run a sweep.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from orchestrator.search.replay import ReplaySpace
from orchestrator.search.sampling import CONSTANTS_ATTR, POINT_ATTR, SpaceSampler, grid
from orchestrator.spec.load import Spec
from orchestrator.spec.space import STUDY_TRIAL
from workers.messages import REPLAY, is_final, searched

RAY_TRIAL_ATTR = "ray_trial_id"  # on each Optuna trial: the Ray trial (and MLflow tag) it is
REPLAY_ATTR = "replayed_configuration"  # replaying: the table's configuration that answered


class _SearchedTrials:
    """The study without its named points' trials, as a relative sampler reads its history."""

    def __init__(self, study: optuna.Study) -> None:
        self._study = study

    def __getattr__(self, name: str):
        return getattr(self._study, name)

    def _get_trials(self, deepcopy=True, states=None, use_cache=False):
        trials = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        return [t for t in trials if POINT_ATTR not in t.user_attrs]

    def get_trials(self, deepcopy=True, states=None):
        trials = self._study.get_trials(deepcopy=deepcopy, states=states)
        return [t for t in trials if POINT_ATTR not in t.user_attrs]

    @property
    def trials(self):
        return self.get_trials()


class SearchedTrialsOnly(optuna.samplers.BaseSampler):
    """A relative sampler (GP, NSGA-II) that models only the searched trials.

    Those samplers model the intersection of every finished trial's parameters. A named
    point's constants switch dimensions off (``zero_shot`` trains no epochs, so it has no
    searched parameter at all), and one such trial empties the intersection for good: every
    later trial is then sampled at random (Optuna warns "dynamic search space is not
    supported"). Leaving the named points out of the model keeps them in the study, the
    front and the report, and lets the sampler model the searched dimensions."""

    def __init__(self, inner: optuna.samplers.BaseSampler) -> None:
        self.inner = inner

    def infer_relative_search_space(self, study, trial):
        return self.inner.infer_relative_search_space(_SearchedTrials(study), trial)

    def sample_relative(self, study, trial, search_space):
        return self.inner.sample_relative(_SearchedTrials(study), trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        view = _SearchedTrials(study)
        return self.inner.sample_independent(view, trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self.inner.before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        self.inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()


def create_sampler(spec: Spec) -> optuna.samplers.BaseSampler:
    search = spec.sweep.search
    seed = search.seed
    if search.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if search.sampler == "nsga2":
        return SearchedTrialsOnly(optuna.samplers.NSGAIISampler(seed=seed))
    if search.sampler == "gp":
        return SearchedTrialsOnly(optuna.samplers.GPSampler(seed=seed))
    if search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.GridSampler(grid(spec.space, spec.space.names), seed=seed)


def journal_storage(path: Path) -> JournalStorage:
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def ended_trials(journal: Path) -> dict[str, str]:
    """Ray trial id -> how the study's trial ended (COMPLETE or PRUNED), for each of its
    trials that finished without failing: what a resumed sweep settles orphans by
    (``tracking.missing``)."""
    storage = journal_storage(journal)
    summaries = optuna.get_all_study_summaries(storage)
    ended: dict[str, str] = {}
    for summary in summaries:
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        for trial in study.get_trials(deepcopy=False):
            ray_id = trial.user_attrs.get(RAY_TRIAL_ATTR)
            if ray_id and trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
                ended[ray_id] = trial.state.name
    return ended


class SweepSearch(OptunaSearch):
    """OptunaSearch over the spec's define-by-run space, with three changes.

    - ``suggest`` hands each trial its searched values (by trial path) and a named point's
      constants as one ``overrides`` mapping, beside the point's name
      (``workers.messages.searched``); Optuna knows the values by their short names.
    - A trial stopped early (by ASHA) reaches Optuna as PRUNED, not COMPLETE: Ray hands its
      last epoch to ``on_trial_complete`` as if it were final, and Optuna would then rank a
      partial score. Only a trial's last report is marked final.
    - A trial the journal already holds as finished (it ended after the killed driver last
      saved the searcher) is not told again; one it holds as running that the saved searcher
      never knew ends FAIL (``restore``).
    """

    @classmethod
    def from_spec(cls, spec: Spec, *, journal: Path | None = None, study_name: str | None = None):
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # the progress lines say enough
        objectives = spec.sweep.objectives
        many = len(objectives) > 1
        searcher = cls(
            space=SpaceSampler(spec),
            metric=[o.metric for o in objectives] if many else objectives[0].metric,
            mode=[o.mode for o in objectives] if many else objectives[0].mode,
            sampler=create_sampler(spec),
            storage=journal_storage(journal) if journal else None,
            study_name=study_name,
        )
        with warnings.catch_warnings():  # "experimental" since Optuna 3.2, and still there
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            searcher._ot_study.set_metric_names([o.metric for o in objectives])
        space, names = spec.space, spec.space.names
        searcher._names = {name: path for path, name in names.items()}
        searcher._replay = ReplaySpace.from_spec(spec) if spec.sweep.replay.table else None
        for point in spec.sweep.search.points_to_evaluate:
            values = {names[k]: v for k, v in point.values.items() if k in space}
            # every value is a constant too: one the point's own constants make inactive
            # (never sampled) still reaches the trial as the point gives it
            searcher._ot_study.enqueue_trial(
                values, user_attrs={POINT_ATTR: point.name, CONSTANTS_ATTR: dict(point.values)}
            )
        return searcher

    def suggest(self, trial_id: str) -> dict | None:
        sampled = super().suggest(trial_id)
        if not isinstance(sampled, dict):
            return sampled
        ot_trial = self._ot_trials[trial_id]
        ot_trial.set_user_attr(RAY_TRIAL_ATTR, trial_id)
        attrs = ot_trial.user_attrs
        paths = getattr(self, "_names", {})
        values = {paths.get(name, name): value for name, value in sampled.items()}
        constants = attrs.get(CONSTANTS_ATTR, {})
        config = searched({**constants, **values}, attrs.get(POINT_ATTR))
        replay = getattr(self, "_replay", None)
        if replay is not None:  # the trial carries what was measured, Optuna what it asked
            answer = replay.answer(values, constants)
            ot_trial.set_user_attr(REPLAY_ATTR, answer.configuration)
            config = searched(answer.overrides, attrs.get(POINT_ATTR))
            config[REPLAY] = {"configuration": answer.configuration}
        return {**config, STUDY_TRIAL: ot_trial.number}

    def on_trial_complete(self, trial_id, result=None, error=False):
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is not None and self._finished_in_storage(ot_trial):
            self._completed_trials.add(trial_id)
            return
        if result is not None and not error and not is_final(result):
            result = None  # OptunaSearch tells Optuna PRUNED when there is no value
        super().on_trial_complete(trial_id, result, error)

    def restore(self, checkpoint_path: str) -> None:
        """The searcher as Ray saved it; a trial the journal shows running that the saved
        searcher never heard of (asked for just before the driver was killed, never started)
        ends FAIL, so the study holds no trial running forever. Where the killed driver asked
        for trials after its last save, the sampler is reseeded: its saved random state would
        draw their values again."""
        super().restore(checkpoint_path)
        known = {t.number for t in self._ot_trials.values()}
        asked_since = [
            t for t in self._ot_study.get_trials(deepcopy=False) if t.number not in known
        ]
        for trial in asked_since:
            if trial.state == TrialState.RUNNING:
                self._ot_study.tell(trial.number, state=TrialState.FAIL)
        if any(t.state != TrialState.WAITING for t in asked_since):
            # the saved sampler's random state would draw again what it drew for them
            self._ot_study.sampler.reseed_rng()

    def _finished_in_storage(self, ot_trial) -> bool:
        stored = self._ot_study.get_trials(deepcopy=False)  # in trial-number order
        return stored[ot_trial.number].state.is_finished()
