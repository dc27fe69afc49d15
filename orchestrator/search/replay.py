"""A sweep replayed from a table: which recorded configuration answers each searched point.

The searchable space stays the spec's; each point the searcher proposes is answered by the
*nearest recorded configuration* (a 1-nearest-neighbour surrogate, as Syne Tune's blackbox
repository serves a table on a continuous space). Every setting the spec does not search (its
fixed values, a named point's constants) must match the recorded configuration exactly; over
the searched dimensions the distance is Euclidean, each range scaled to [0, 1] (on a log scale
where the dimension is), a different choice or a dimension active on one side only counting 1.
The trial then carries the recorded configuration's own values, so MLflow, the report and the
plots show what was actually measured; the Optuna study keeps the proposed point.

Before anything runs the spec is checked against the table: a protocol or a fixed setting the
table never recorded, a choice it never tried, a range reaching beyond what it sampled, or a
named point it does not hold is refused with one line (exit 2).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.spec.load import Spec
from orchestrator.spec.schema import Dimension
from orchestrator.spec.space import PER_CELL, active
from workers.config import TrialConfig
from workers.errors import ConfigError
from workers.table import Table, read_table

RANGE_SLACK = 0.05  # of a range's span: how far its ends may lie beyond the recorded values


def _scaled(dim: Dimension, value: float) -> float:
    if dim.log:
        return (math.log(value) - math.log(dim.low)) / (math.log(dim.high) - math.log(dim.low))
    return (value - dim.low) / (dim.high - dim.low) if dim.high > dim.low else 0.0


@dataclass(frozen=True)
class Answer:
    configuration: int  # index into the table
    overrides: Mapping[str, Any]  # the recorded configuration's searched values
    point: str | None
    distance: float  # 0: the proposed point was recorded exactly


class ReplaySpace:
    """The spec's space answered by a table's configurations."""

    def __init__(self, spec: Spec, table: Table) -> None:
        self.spec = spec
        self.table = table
        self.space = spec.space
        base = TrialConfig.from_dict(dict(table.trial))
        self.recorded = [
            base.with_overrides(dict(c.overrides)).flat() for c in table.configurations
        ]

    @classmethod
    def from_spec(cls, spec: Spec) -> ReplaySpace:
        return cls(spec, read_table(spec.sweep.replay.table))

    # Ray pickles the searcher with the experiment every few seconds: the table stays in its
    # file and is read again when the searcher is restored
    def __getstate__(self) -> dict:
        return {"spec": self.spec}

    def __setstate__(self, state: dict) -> None:
        spec = state["spec"]
        self.__init__(spec, read_table(spec.sweep.replay.table))

    def _fixed(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """What a recorded configuration must match exactly: every setting but the searched."""
        return {p: v for p, v in values.items() if p not in self.space and p not in PER_CELL}

    def _matching(self, wanted: Mapping[str, Any]) -> list[int]:
        return [
            i
            for i, flat in enumerate(self.recorded)
            if all(flat.get(p) == v for p, v in wanted.items())
        ]

    def _distance(self, proposed: Mapping[str, Any], recorded: Mapping[str, Any]) -> float:
        total = 0.0
        for path, dim in self.space.items():
            here, there = active(dim, proposed), active(dim, recorded)
            if not here and not there:
                continue
            if here != there:
                total += 1.0
            elif dim.kind == "range":
                total += (_scaled(dim, proposed[path]) - _scaled(dim, recorded[path])) ** 2
            else:
                total += float(proposed[path] != recorded[path])
        return math.sqrt(total)

    def answer(
        self, overrides: Mapping[str, Any], constants: Mapping[str, Any] | None = None
    ) -> Answer:
        """The recorded configuration nearest the trial ``overrides`` (searched values and a
        named point's constants, by path) make, among those that hold ``constants`` (a named
        point's) exactly; ties go to the earlier configuration."""
        constants = dict(constants or {})
        proposed = self.spec.trial.with_overrides({**overrides, **constants}).flat()
        candidates = self._matching({**self._fixed(proposed), **constants})
        if not candidates:
            raise ConfigError(self._unanswerable(proposed))
        best = min(candidates, key=lambda i: (self._distance(proposed, self.recorded[i]), i))
        chosen = self.table.configurations[best]
        return Answer(
            best,
            dict(chosen.overrides),
            chosen.point,
            self._distance(proposed, self.recorded[best]),
        )

    def _unanswerable(self, proposed: Mapping[str, Any]) -> str:
        wanted = self._fixed(proposed)
        near = max(
            range(len(self.recorded)),
            key=lambda i: sum(self.recorded[i].get(p) == v for p, v in wanted.items()),
        )
        differ = [
            f"{p}={v!r} (recorded {self.recorded[near].get(p)!r})"
            for p, v in wanted.items()
            if self.recorded[near].get(p) != v
        ]
        return (
            f"replay.table {self.table.path}: no recorded configuration has "
            f"{', '.join(differ[:3])}; search that setting in space, or replay a table that "
            "recorded it"
        )

    def check(self) -> str:
        """Refuse a spec the table cannot answer; -> what was checked, for ``orch validate``."""
        where = f"{self.spec.path}: replay.table {self.table.path}"
        if dict(self.table.protocol) != self.spec.protocol.to_dict():
            differ = [
                f"protocol.{k}: {v!r} (the table: {self.table.protocol.get(k)!r})"
                for k, v in self.spec.protocol.to_dict().items()
                if self.table.protocol.get(k) != v
            ]
            raise ConfigError(
                f"{where}: recorded under another protocol: {'; '.join(differ)}; replay the "
                "table with the protocol it was made with"
            )
        for path, dim in self.space.items():
            seen = [flat[path] for flat in self.recorded if active(dim, flat)]
            if not seen:
                raise ConfigError(
                    f"{where}: space.{path}: the table never varied it; remove it from space"
                )
            if dim.kind == "choices":
                missing = [c for c in dim.choices if c not in seen]
                if missing:
                    raise ConfigError(
                        f"{where}: space.{path}: the table never tried {missing} (it recorded "
                        f"{sorted(set(map(str, seen)))}); remove those choices"
                    )
            elif dim.kind == "range":
                low, high = min(seen), max(seen)
                slack = RANGE_SLACK
                if _scaled(dim, low) > slack or _scaled(dim, high) < 1 - slack:
                    raise ConfigError(
                        f"{where}: space.{path}: {dim.low:g}..{dim.high:g} reaches beyond what "
                        f"the table sampled ({low:.4g}..{high:.4g}); narrow the range to that"
                    )
        self.answer({})  # the spec's own fixed settings
        for point in self.spec.sweep.search.points_to_evaluate:
            proposed = self.spec.trial.with_overrides(dict(point.values)).flat()
            exact = self._matching({**self._fixed(proposed), **point.values})
            if not exact:
                values = ", ".join(f"{p}={v!r}" for p, v in point.values.items())
                raise ConfigError(
                    f"{where}: search.points_to_evaluate '{point.name}' ({values}) was never "
                    "recorded; remove the point, or replay a table whose sweep evaluated it"
                )
        return (
            f"replay {self.table.path}: {len(self.table.configurations)} recorded "
            f"configurations of {self.table.source}, nearest one answers each point"
        )
