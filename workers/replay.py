"""The replay trainable: a recorded configuration's reports served again, instead of training.

Each report of the table's configuration is given to Ray Tune as it was recorded (the same
numbers, the same cells), after its recorded seconds times the sweep's time scale; with a
scale of 0 nothing waits and the recorded seconds are still counted: the final report adds
``cost_replayed_s``, the training time the replay stood in for. A checkpoint after every
report holds how many were served, so a retried or resumed trial goes on where it stopped.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from workers.messages import CELLS, ReplayRequest, is_final
from workers.node import node_name
from workers.table import read_table

__all__ = ["replay_trial"]

PROGRESS = "replay_progress.json"


def _served() -> tuple[int, float]:
    """(reports already served, their recorded seconds) from the trial's checkpoint."""
    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return 0, 0.0
    with checkpoint.as_directory() as folder:
        saved = json.loads((Path(folder) / PROGRESS).read_text())
    return int(saved["served"]), float(saved["replayed_s"])


def replay_trial(config: dict[str, Any]) -> None:
    """The function trainable of a replayed sweep (``orchestrator.search.tuner``)."""
    from ray import tune

    request = ReplayRequest.from_ray(config)
    recorded = read_table(request.table).configurations[request.configuration]
    served, replayed_s = _served()
    for index in range(served, len(recorded.reports)):
        report = recorded.reports[index]
        if request.time_scale:
            time.sleep(report.seconds * request.time_scale)
        replayed_s += report.seconds
        result: dict[str, Any] = {**report.metrics, CELLS: list(report.cells)}
        if is_final(report.metrics):
            result["node"] = node_name()  # where it was replayed; the table keeps the rest
            result["cost_replayed_s"] = replayed_s
        with tempfile.TemporaryDirectory() as folder:
            progress = {"served": index + 1, "replayed_s": replayed_s}
            (Path(folder) / PROGRESS).write_text(json.dumps(progress))
            tune.report(result, checkpoint=tune.Checkpoint.from_directory(folder))
