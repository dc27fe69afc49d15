"""Non-dominated sorting, hypervolume and the rung rules of ASHA and multi-objective ASHA."""

import itertools
import random
from types import SimpleNamespace

import numpy as np
import pytest
from optuna._hypervolume import compute_hypervolume
from ray.tune.schedulers.async_hyperband import _Bracket
from ray.tune.schedulers.trial_scheduler import TrialScheduler

from orchestrator.search.moasha import MultiObjectiveAsha
from orchestrator.search.rungs import asha_continues, milestones, moasha_continues, promoted
from orchestrator.selection.pareto import crowding_distance, hypervolume, nondominated_sort, ranked
from orchestrator.selection.rule import Objective, dominates


@pytest.mark.parametrize("dims", [2, 3])
def test_the_hypervolume_equals_optunas_on_random_fronts(dims):
    rng = np.random.default_rng(dims)
    for size in (1, 5, 40):
        points = rng.random((size, dims))
        reference = np.full(dims, 0.1)
        # Optuna minimises: the same volume, every axis negated
        # Optuna wants every point at or beyond the reference; those below add nothing to either
        inside = points[(points > reference).all(axis=1)]
        theirs = compute_hypervolume(-inside, -reference) if len(inside) else 0.0
        assert hypervolume(points.tolist(), reference.tolist()) == pytest.approx(theirs, rel=1e-12)


def test_the_hypervolume_of_a_hand_made_front():
    # two rectangles above (0, 0): 3 x 1 and 1 x 2 overlapping in 1 x 1
    assert hypervolume([(3, 1), (1, 2), (0.5, 0.5), (-1, 5)], (0, 0)) == 4.0


def test_nondominated_sort_peels_fronts_as_brute_force_does():
    rng = random.Random(0)
    points = [(rng.randint(0, 6), rng.randint(0, 6)) for _ in range(40)]
    left, fronts = set(range(len(points))), []
    while left:  # the brute force: whatever nothing left dominates, repeatedly
        front = sorted(i for i in left if not any(dominates(points[j], points[i]) for j in left))
        fronts.append(front)
        left -= set(front)
    assert [sorted(f) for f in nondominated_sort(points)] == fronts


def test_crowding_puts_the_ends_first_and_the_lonely_before_the_crowded():
    front = [(0, 10), (1, 9), (1.1, 8.9), (5, 5), (10, 0)]
    distance = crowding_distance(front, range(5))
    assert distance[0] == distance[4] == float("inf")
    assert distance[3] > distance[1] and distance[3] > distance[2]
    assert ranked(front)[:3] == [0, 4, 3]


def test_moasha_promotes_exactly_the_non_dominated_set_of_a_hand_made_rung():
    # (hm, -ece): four non-dominated trials and four that each of them beats
    rung = [(70, -5), (60, -12), (75, -9), (65, -4), (80, -20), (55, -15), (72, -10), (50, -30)]
    assert promoted(rung, reduction_factor=2) == [0, 2, 3, 4]
    # a third of the rung, from a front of four: both ends (3, 4), then the wider-spread of
    # the middle two (2: gaps 10/15 + 15/16 against 0's 10/15 + 5/16)
    assert promoted(rung, reduction_factor=3) == [2, 3, 4]


def test_moasha_lets_a_newcomer_that_ties_the_best_go_on():
    assert moasha_continues([(70, -5)], (70, -5), reduction_factor=2)
    assert moasha_continues([(70, -5)], (60, -4), reduction_factor=2)  # on the front
    assert not moasha_continues([(70, -5)], (60, -6), reduction_factor=2)  # dominated


def test_asha_continues_decides_as_ray_tunes_bracket_does():
    rng = random.Random(1)
    for reduction_factor in (2, 3, 4):
        bracket = _Bracket(min_t=1, max_t=1, reduction_factor=reduction_factor, s=0)
        recorded: list[float] = []
        for n in range(60):
            value = rng.choice([rng.random(), 0.5])  # ties too
            theirs = bracket.on_result(SimpleNamespace(trial_id=str(n)), 1, value)
            mine = asha_continues(recorded, value, reduction_factor)
            assert mine == (theirs == TrialScheduler.CONTINUE)
            recorded.append(value)


def test_rungs_sit_where_ray_tunes_asha_puts_them():
    for grace, factor, max_t in itertools.product((1, 2), (2, 3), (9, 1000)):
        bracket = _Bracket(min_t=grace, max_t=max_t, reduction_factor=factor, s=0)
        assert milestones(grace, factor, max_t) == sorted(int(m) for m, _ in bracket._rungs)


def test_the_scheduler_stops_the_dominated_trial_at_its_rung_and_only_there():
    objectives = [Objective(metric="hm", mode="max"), Objective(metric="ece", mode="min")]
    scheduler = MultiObjectiveAsha(objectives, grace_period=2, reduction_factor=2)

    def report(trial, iteration, hm, ece):
        result = {"training_iteration": iteration, "hm": hm, "ece": ece}
        return scheduler.on_trial_result(None, SimpleNamespace(trial_id=trial), result)

    assert report("a", 1, 70, 5) == TrialScheduler.CONTINUE  # below the first rung
    assert report("a", 2, 70, 5) == TrialScheduler.CONTINUE  # first at rung 2
    assert report("b", 2, 60, 9) == TrialScheduler.STOP  # dominated by a there
    assert report("c", 2, 80, 8) == TrialScheduler.CONTINUE  # on the front with a
    assert report("a", 3, 10, 50) == TrialScheduler.CONTINUE  # between rungs: no decision
    assert scheduler.rungs[2] == {"a": (70, -5), "b": (60, -9), "c": (80, -8)}
