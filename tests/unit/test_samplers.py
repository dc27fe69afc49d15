"""The sweep's relative samplers model the searched dimensions even when a named point
switches them all off."""

import optuna
import pytest

from orchestrator.search.sampling import CONSTANTS_ATTR, POINT_ATTR, SpaceSampler
from orchestrator.search.searcher import create_sampler
from orchestrator.spec.load import load_spec
from tests.helpers import ROOT

COCOA = ROOT / "search_spaces" / "cocoa.yaml"


def study_after(sampler, spec, trials: int) -> tuple[optuna.Study, optuna.Trial]:
    """The spec's named points, then searched trials, as the sweep asks them; -> the study
    and the next trial asked."""
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    names = spec.space.names
    for point in spec.sweep.search.points_to_evaluate:
        values = {names[k]: v for k, v in point.values.items() if k in spec.sweep.space}
        attrs = {POINT_ATTR: point.name, CONSTANTS_ATTR: dict(point.values)}
        study.enqueue_trial(values, user_attrs=attrs)
    define = SpaceSampler(spec)
    for i in range(trials):
        trial = study.ask()
        define(trial)
        study.tell(trial, [float(i % 5), float(i % 3)])
    return study, study.ask()


@pytest.mark.parametrize("name", ["gp", "nsga2"])
def test_a_zero_shot_point_leaves_the_relative_sampler_every_searched_dimension(name):
    spec = load_spec(COCOA, {"search.sampler": name})
    # the zero_shot point trains no epoch: none of the space is active for it
    study, trial = study_after(create_sampler(spec), spec, trials=6)
    assert study.trials[1].params == {}
    searched = set(spec.space.names.values())
    assert set(create_sampler(spec).infer_relative_search_space(study, trial)) == searched
    # the bare sampler models the intersection with that empty point: nothing, ever
    bare = {"gp": optuna.samplers.GPSampler, "nsga2": optuna.samplers.NSGAIISampler}[name]
    assert bare(seed=0).infer_relative_search_space(study, trial) == {}


def test_past_its_start_up_trials_gp_samples_nothing_at_random(caplog):
    spec = load_spec(COCOA, {"search.sampler": "gp"})
    optuna.logging.enable_propagation()
    try:
        for sampler, fallbacks in (
            (create_sampler(spec), 0),
            (optuna.samplers.GPSampler(seed=0), 6),
        ):
            caplog.clear()
            study, _ = study_after(sampler, spec, trials=12)
            # the named points stay in the study (the front and the report read them)
            points = [t.user_attrs.get(POINT_ATTR) for t in study.trials]
            assert points[:2] == ["coop", "zero_shot"]
            # trial 12 is the first past GP's ten random start-up trials: the bare sampler
            # falls back to random for each of its 6 dimensions, the wrapped one for none
            fell_back = [r for r in caplog.records if "sampled independently" in r.getMessage()]
            assert len(fell_back) >= fallbacks if fallbacks else not fell_back
    finally:
        optuna.logging.disable_propagation()
