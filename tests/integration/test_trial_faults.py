"""A trial that fails for a real reason, in a real sweep: FAILED in MLflow with its error line
and traceback, never on the front, and the sweep goes on."""

import json

import pytest
import yaml

from tests.helpers import ROOT, run_orch
from tests.integration.test_sweep import TINY, cells_of, children, client_for


@pytest.mark.slow
def test_a_diverging_trial_fails_alone(tmp_path):
    raw = yaml.safe_load((ROOT / "search_spaces" / "cocoa.yaml").read_text())
    del raw["space"]["train.lr"]  # the named point below sets it
    raw["search"]["points_to_evaluate"] = [
        {  # a step so large that the context overflows: the loss becomes NaN
            "name": "diverge",
            "values": {"train.lr": 1.0e38, "train.warmup_epochs": 0, "method.mixture": False},
        }
    ]
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(raw))
    result = run_orch(
        "sweep",
        str(spec),
        *TINY,
        "--set",
        "search.num_trials=2",
        "--set",
        "search.max_failures=1",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "FAILED" in result.stdout
    client = client_for(tmp_path)
    _, configs = children(client)
    failed = [c for c in configs if c.data.tags.get("point") == "diverge"]
    others = [c for c in configs if c.data.tags.get("point") != "diverge"]
    assert len(failed) == 1 and len(others) == 1
    run = failed[0]
    assert run.info.status == "FAILED"
    assert "training diverged" in run.data.tags["error"] and "train.lr" in run.data.tags["error"]
    error = client.download_artifacts(run.info.run_id, "error.txt", str(tmp_path))
    text = open(error).read()
    assert "Failure # 1" in text and 'workers/trial.py", line' in text  # Ray's traceback
    # it failed in its first epoch, before any cell reported: any cell run there is FAILED
    assert {c.info.status for c in cells_of(client, run)} <= {"FAILED"}
    assert others[0].info.status == "FINISHED"
    data = json.loads(run_orch("report", "--json", cwd=tmp_path).stdout)
    chosen = next(t for t in data["trials"] if t["selected"])
    assert chosen["run_id"] == others[0].info.run_id
    assert not any(t["pareto"] for t in data["trials"] if t["run_id"] == run.info.run_id)
