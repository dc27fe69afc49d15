"""``orch table``'s work: a finished sweep's trials as a tabulated benchmark (``workers.table``).

The source is the sweep's Ray Tune experiment folder: each trial's ``result.json`` holds every
report it made as it made it (numbers at full precision, its cells, the seconds each took),
written while the sweep ran. A trial that did not finish (stopped by ASHA or a budget, or
failed) cannot answer its later epochs and is left out; a report given twice (a trial retried
from its checkpoint reports the epochs after it again) is kept once, as last given.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from orchestrator.spec.storage import STATE_FILE, is_uri, resolve_storage
from workers.errors import ConfigError
from workers.messages import CELLS, TrialRequest, is_final
from workers.table import RecordedConfiguration, RecordedReport, write_table

# what Ray Tune adds to every report: bookkeeping, not the trial's numbers
TUNE_KEYS = frozenset(
    {
        "config",
        "done",
        "date",
        "timestamp",
        "time_this_iter_s",
        "time_total_s",
        "time_since_restore",
        "pid",
        "hostname",
        "node_ip",
        "training_iteration",
        "iterations_since_restore",
        "checkpoint_dir_name",
        "should_checkpoint",
        "trial_id",
        "experiment_tag",
    }
)


def sweep_folder(sweep: str | None, storage: str | None) -> Path:
    """The sweep's experiment folder: a folder given as is, a sweep's name under the storage,
    or (none given) the newest sweep there."""
    root = resolve_storage(storage)
    if is_uri(root):
        raise ConfigError(
            f"--storage {root}: orch table reads a local experiment folder; copy the sweep's "
            "folder here first (e.g. `aws s3 sync`)"
        )
    if sweep is not None:
        for candidate in (Path(sweep), Path(root) / sweep):
            if (candidate / STATE_FILE).is_file():
                return candidate.resolve()
        raise ConfigError(
            f"orch table: {sweep} is not a sweep's folder (no {STATE_FILE} in it or under "
            f"{root}); give a folder from {root}"
        )
    found = sorted(Path(root).glob(f"*/{STATE_FILE}"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise ConfigError(f"orch table: no sweep under {root}; run `orch sweep SPEC` first")
    return found[-1].parent.resolve()


def _reports(result_file: Path) -> list[dict[str, Any]]:
    by_iteration: dict[int, dict[str, Any]] = {}
    for line in result_file.read_text().splitlines():
        if line.strip():
            report = json.loads(line)
            by_iteration[int(report["training_iteration"])] = report
    return [by_iteration[i] for i in sorted(by_iteration)]


def _numbers(report: dict[str, Any]) -> dict[str, float]:
    return {
        key: float(value)
        for key, value in report.items()
        if key not in TUNE_KEYS
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and not (isinstance(value, float) and math.isnan(value))
    }


def recorded(folder: Path) -> tuple[list[RecordedConfiguration], dict, dict, int]:
    """-> (finished configurations in the sweep's trial order, the fixed trial settings, the
    protocol, how many trials were left out)."""
    configurations, shared, skipped = [], None, 0
    trials = []
    for result_file in folder.glob("*/result.json"):
        reports = _reports(result_file)
        if not reports:
            skipped += 1
            continue
        trials.append((reports[0]["config"].get("study_trial", 0), result_file, reports))
    for _, result_file, reports in sorted(trials, key=lambda t: (t[0], str(t[1]))):
        if not is_final(reports[-1]):
            skipped += 1
            continue
        config = reports[-1]["config"]
        request = TrialRequest.from_ray(config)
        fixed = (request.trial.to_dict(), request.protocol.to_dict())
        if shared is None:
            shared = fixed
        elif fixed != shared:
            raise ConfigError(
                f"{result_file.parent}: its fixed settings differ from the sweep's other trials; "
                "a table holds one sweep"
            )
        configurations.append(
            RecordedConfiguration(
                overrides=dict(request.overrides),
                point=request.point,
                source_trial=str(reports[-1]["trial_id"]),
                reports=tuple(
                    RecordedReport(
                        seconds=float(r.get("time_this_iter_s") or 0.0),
                        metrics=_numbers(r),
                        cells=tuple(r.get(CELLS) or ()),
                    )
                    for r in reports
                ),
            )
        )
    if shared is None:
        raise ConfigError(f"orch table: no trial in {folder} finished; there is nothing to table")
    return configurations, shared[0], shared[1], skipped


def make_table(folder: Path, out: Path) -> tuple[Path, int, int]:
    """-> (the table written, configurations in it, trials left out)."""
    configurations, trial, protocol, skipped = recorded(folder)
    path = write_table(out, configurations, trial=trial, protocol=protocol, source=str(folder))
    return path, len(configurations), skipped
