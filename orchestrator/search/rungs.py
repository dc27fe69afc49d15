"""Successive halving's rung decisions, on one objective (ASHA) or on several (MOASHA).

Pure functions: ``orchestrator.search.moasha``'s Ray Tune scheduler decides with them, and
``bench/search_efficiency.py`` simulates both schedulers with them (``asha_continues`` is Ray
Tune's own ``_Bracket`` rule, restated).

Values are oriented so that larger is better (``selection``'s convention).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from orchestrator.selection.pareto import Point, ranked


def milestones(grace_period: int, reduction_factor: float, max_t: int) -> list[int]:
    """The rungs' epochs, lowest first: ``grace_period * reduction_factor ** k`` up to
    ``max_t`` (as Ray Tune's ASHA places them)."""
    count = int(math.log(max_t / grace_period) / math.log(reduction_factor) + 1)
    return [int(grace_period * reduction_factor**k) for k in range(count)]


def asha_continues(others: Sequence[float], value: float, reduction_factor: float) -> bool:
    """ASHA: a trial reaching a rung goes on unless its value is below the ``1 - 1/rf``
    quantile of the values recorded there before it."""
    if not others:
        return True
    return value >= float(np.nanpercentile(list(others), (1 - 1 / reduction_factor) * 100))


def promoted(points: Sequence[Point], reduction_factor: float) -> list[int]:
    """The members of a rung that go on: the best ``ceil(n / rf)`` by non-dominated sorting
    (then crowding distance, then order): a whole first front when it is that large."""
    keep = max(1, math.ceil(len(points) / reduction_factor))
    return sorted(ranked(points)[:keep])


def moasha_continues(others: Sequence[Point], point: Point, reduction_factor: float) -> bool:
    """MOASHA: a trial reaching a rung goes on if it is among those ``promoted`` from the
    rung with it; it comes first, so it wins ties (ASHA's ``>=``)."""
    return 0 in promoted([point, *others], reduction_factor)
