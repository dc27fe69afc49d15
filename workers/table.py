"""A tabulated benchmark: every report of every configuration of a finished sweep, as Parquet.

One row per report a configuration made, in order (each epoch's, then the final one that adds
its test metrics), with the seconds that report took (Tune's ``time_this_iter_s``), every
number it reported as its own column (NaN where a report lacks it: test metrics exist only in
the final report), and its cells' own results (``CellResult.to_dict`` as JSON). The
configuration is its searched overrides (JSON, exact) and its named point; the fixed trial
settings and the protocol every configuration shares are the file's metadata.

Replaying a row gives back exactly what was reported: floats are stored as float64.

pyarrow only (it comes with Ray and MLflow): the replay trainable reads tables in Ray workers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from workers.errors import ConfigError

FORMAT = "orch-table-1"
# the columns every table has; every other column is a reported number
CONFIGURATION = "configuration"  # 0, 1, ...: the table's own numbering
SOURCE_TRIAL = "source_trial"  # the Ray trial id that reported it
POINT = "point"
OVERRIDES = "overrides"
REPORT = "report"  # 0-based order of the report within its configuration
SECONDS = "seconds"
CELLS_JSON = "cells"
FIXED_COLUMNS = (CONFIGURATION, SOURCE_TRIAL, POINT, OVERRIDES, REPORT, SECONDS, CELLS_JSON)


@dataclass(frozen=True)
class RecordedReport:
    seconds: float  # what the report took when it was recorded
    metrics: Mapping[str, float]  # every number it reported (``epoch``, ``final`` included)
    cells: Sequence[Mapping[str, Any]] = ()  # its cells' results, as ``CellResult.to_dict``


@dataclass(frozen=True)
class RecordedConfiguration:
    overrides: Mapping[str, Any]  # searched values by trial path, as the sweep handed them
    point: str | None
    source_trial: str
    reports: Sequence[RecordedReport] = field(default_factory=tuple)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.reports)

    @property
    def final(self) -> Mapping[str, float]:
        return self.reports[-1].metrics


@dataclass(frozen=True)
class Table:
    """A table as read back: its configurations and what they share."""

    path: Path
    trial: Mapping[str, Any]  # the fixed trial settings (``TrialConfig.to_dict``)
    protocol: Mapping[str, Any]  # ``Protocol.to_dict``
    source: str  # the sweep it was made from
    configurations: Sequence[RecordedConfiguration]


def write_table(
    path: Path,
    configurations: Sequence[RecordedConfiguration],
    *,
    trial: Mapping[str, Any],
    protocol: Mapping[str, Any],
    source: str,
) -> Path:
    """Write ``configurations`` as one Parquet file (atomically: a temporary name, then
    renamed, so a failed write leaves no half table)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    numbers = sorted({k for c in configurations for r in c.reports for k in r.metrics})
    columns: dict[str, list] = {name: [] for name in (*FIXED_COLUMNS, *numbers)}
    for index, configuration in enumerate(configurations):
        for order, report in enumerate(configuration.reports):
            columns[CONFIGURATION].append(index)
            columns[SOURCE_TRIAL].append(configuration.source_trial)
            columns[POINT].append(configuration.point)
            columns[OVERRIDES].append(json.dumps(dict(configuration.overrides)))  # in its order
            columns[REPORT].append(order)
            columns[SECONDS].append(float(report.seconds))
            columns[CELLS_JSON].append(json.dumps(list(report.cells)))
            for name in numbers:
                columns[name].append(float(report.metrics.get(name, math.nan)))
    types = {CONFIGURATION: pa.int32(), REPORT: pa.int32(), SECONDS: pa.float64()}
    arrays = {
        name: pa.array(values, type=types.get(name, pa.float64() if name in numbers else None))
        for name, values in columns.items()
    }
    metadata = {
        "orch.format": FORMAT,
        "orch.trial": json.dumps(dict(trial), sort_keys=True),
        "orch.protocol": json.dumps(dict(protocol), sort_keys=True),
        "orch.source": source,
    }
    table = pa.table(arrays).replace_schema_metadata(metadata)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    pq.write_table(table, partial)
    partial.replace(path)
    return path


def read_table(path: str | Path) -> Table:
    """The table at ``path``; a missing file, or one that is not an orch table, is one line."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(
            f"replay table {path}: no such file; `orch table` makes one from a finished sweep"
        )
    stat = path.stat()
    return _read(path, stat.st_mtime_ns, stat.st_size)


@cache  # a worker process replays many trials of one table: it reads the file once
def _read(path: Path, _mtime: int, _size: int) -> Table:
    import pyarrow.parquet as pq

    try:
        data = pq.read_table(path)
    except Exception as exc:  # pyarrow's ArrowInvalid and OSError carry their own wording
        raise ConfigError(f"replay table {path}: not a Parquet file ({exc})") from None
    meta = {k.decode(): v.decode() for k, v in (data.schema.metadata or {}).items()}
    if meta.get("orch.format") != FORMAT:
        raise ConfigError(
            f"replay table {path}: not an orch table (format {meta.get('orch.format')!r}, "
            f"expected {FORMAT!r}); make one with `orch table`"
        )
    rows = data.to_pylist()
    numbers = [n for n in data.column_names if n not in FIXED_COLUMNS]
    grouped: dict[int, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row[CONFIGURATION], []).append(row)
    configurations = []
    for index in sorted(grouped):
        group = sorted(grouped[index], key=lambda r: r[REPORT])
        reports = tuple(
            RecordedReport(
                seconds=row[SECONDS],
                metrics={n: row[n] for n in numbers if row[n] is not None and row[n] == row[n]},
                cells=tuple(json.loads(row[CELLS_JSON])),
            )
            for row in group
        )
        first = group[0]
        configurations.append(
            RecordedConfiguration(
                overrides=json.loads(first[OVERRIDES]),
                point=first[POINT],
                source_trial=first[SOURCE_TRIAL],
                reports=reports,
            )
        )
    return Table(
        path=path,
        trial=json.loads(meta["orch.trial"]),
        protocol=json.loads(meta["orch.protocol"]),
        source=meta.get("orch.source", ""),
        configurations=tuple(configurations),
    )
