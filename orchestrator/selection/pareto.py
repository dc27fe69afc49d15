"""Many objectives at once, beyond one front: non-dominated sorting, crowding, hypervolume.

Pure functions over plain numbers, every objective oriented so that larger is better
(``selection.oriented``): multi-objective ASHA ranks a rung with them, and the search
efficiency study measures fronts with them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from orchestrator.selection.rule import dominates

Point = Sequence[float]


def nondominated_sort(points: Sequence[Point]) -> list[list[int]]:
    """Indices of ``points`` by front: the non-dominated ones, then those only they dominate,
    and so on (NSGA-II's fast non-dominated sort)."""
    beaten_by = [0] * len(points)  # how many points dominate each one
    beats: list[list[int]] = [[] for _ in points]
    for i, p in enumerate(points):
        for j, q in enumerate(points):
            if i != j and dominates(p, q):
                beats[i].append(j)
            elif i != j and dominates(q, p):
                beaten_by[i] += 1
    fronts = []
    current = [i for i, n in enumerate(beaten_by) if n == 0]
    while current:
        fronts.append(current)
        following = []
        for i in current:
            for j in beats[i]:
                beaten_by[j] -= 1
                if beaten_by[j] == 0:
                    following.append(j)
        current = sorted(following)
    return fronts


def crowding_distance(points: Sequence[Point], front: Sequence[int]) -> dict[int, float]:
    """NSGA-II's crowding distance of each member of ``front``: the ends of every objective
    are infinitely far, the others the sum of their neighbours' normalised gaps."""
    distance = dict.fromkeys(front, 0.0)
    if len(front) <= 2:
        return dict.fromkeys(front, math.inf)
    for k in range(len(points[front[0]])):
        ordered = sorted(front, key=lambda i: points[i][k])
        low, high = points[ordered[0]][k], points[ordered[-1]][k]
        distance[ordered[0]] = distance[ordered[-1]] = math.inf
        if high == low:
            continue
        for before, i, after in zip(ordered, ordered[1:], ordered[2:], strict=False):
            distance[i] += (points[after][k] - points[before][k]) / (high - low)
    return distance


def ranked(points: Sequence[Point]) -> list[int]:
    """Every index, best first: by front, then within a front by crowding distance (wider
    first), then by index (earlier first), as NSGA-II ranks a population."""
    order = []
    for front in nondominated_sort(points):
        crowding = crowding_distance(points, front)
        order.extend(sorted(front, key=lambda i: (-crowding[i], i)))
    return order


def hypervolume(points: Sequence[Point], reference: Point) -> float:
    """The volume that ``points`` dominate above ``reference`` (larger is better on every
    axis; a point not above the reference on every axis adds nothing). Exact, by slicing the
    first objective; quadratic in two objectives, fine for fronts of hundreds."""
    inside = [tuple(p) for p in points if all(x > r for x, r in zip(p, reference, strict=True))]
    if not inside:
        return 0.0
    if len(reference) == 1:
        return max(p[0] for p in inside) - reference[0]
    ordered = sorted(set(inside), key=lambda p: p[0], reverse=True)
    volume, previous = 0.0, None
    # a slab between consecutive first-objective values is dominated by every point at or
    # beyond its upper end: its volume is that set's hypervolume in the other objectives
    levels = sorted({p[0] for p in ordered}, reverse=True) + [reference[0]]
    for upper, lower in zip(levels, levels[1:], strict=False):
        members = [p[1:] for p in ordered if p[0] >= upper]
        if previous is None or len(members) != previous[0]:
            previous = (len(members), hypervolume(members, reference[1:]))
        volume += (upper - lower) * previous[1]
    return volume
