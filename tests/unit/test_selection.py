import itertools
import random

import pytest

from orchestrator.selection.rule import (
    Objective,
    SelectionRule,
    dominates,
    knee,
    pareto_front,
    select,
)

OBJ = [Objective(metric="hm", mode="max"), Objective(metric="ece", mode="min")]


def brute_force_front(points):
    def better_or_equal(a, b):
        return a["hm"] >= b["hm"] and a["ece"] <= b["ece"]

    def strictly(a, b):
        return a["hm"] > b["hm"] or a["ece"] < b["ece"]

    return [
        i
        for i, p in enumerate(points)
        if not any(better_or_equal(q, p) and strictly(q, p) for j, q in enumerate(points) if j != i)
    ]


def test_front_hand_made():
    points = [
        {"hm": 70, "ece": 5},  # front
        {"hm": 75, "ece": 9},  # front
        {"hm": 68, "ece": 6},  # dominated by 0
        {"hm": 80, "ece": 20},  # front
        {"hm": 75, "ece": 12},  # dominated by 1
    ]
    assert pareto_front(points, OBJ) == [0, 1, 3]


def test_front_matches_brute_force_on_random_points():
    rng = random.Random(0)
    for _ in range(200):
        points = [
            {"hm": rng.randint(0, 10), "ece": rng.randint(0, 10)} for _ in range(rng.randint(1, 12))
        ]
        front = pareto_front(points, OBJ)
        assert front == brute_force_front(points)
        for i, j in itertools.product(front, repeat=2):
            assert not dominates(
                [points[i]["hm"], -points[i]["ece"]], [points[j]["hm"], -points[j]["ece"]]
            )


def test_constrained_rule_and_knee_fallback():
    points = [{"hm": 70, "ece": 5}, {"hm": 75, "ece": 9}, {"hm": 80, "ece": 20}]
    chosen = select(points, OBJ, SelectionRule(bound=10))
    assert chosen.selected == 1 and chosen.front == [0, 1, 2]
    # nothing satisfies ece <= 1: knee of the front, the point closest to (best hm, best ece)
    fallback = select(points, OBJ, SelectionRule(bound=1))
    assert fallback.selected == knee(points, OBJ, fallback.front) == 1
    assert "knee" in fallback.reason


def test_ties_never_select_a_dominated_point():
    points = [{"hm": 75, "ece": 9}, {"hm": 75, "ece": 4}]
    assert select(points, OBJ, SelectionRule(bound=10)).selected == 1


def test_knee_hand_computed():
    # scaled: A=(1,0) B=(0.8,0.9) C=(0,1): B is closest to (1,1)
    points = [{"hm": 80, "ece": 20}, {"hm": 76, "ece": 6}, {"hm": 60, "ece": 4}]
    assert knee(points, OBJ, [0, 1, 2]) == 1
    assert select(points, OBJ, SelectionRule(rule="knee")).selected == 1


def test_empty():
    assert select([], OBJ, SelectionRule()).selected is None


@pytest.mark.parametrize("rule", [SelectionRule(), SelectionRule(rule="knee")])
def test_describe_states_the_rule(rule):
    assert "knee" in rule.describe()
