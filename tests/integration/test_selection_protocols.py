"""Cross-dataset transfer, leak-free selection with its refit, and the time budget: real
`orch` processes, real Ray, a real MLflow store (SQLite)."""

import json
import shutil
from copy import deepcopy

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import run_orch
from tests.integration.test_sweep import SPEC, TINY, cells_of, children, client_for
from workers.datasets import read_split
from workers.paths import default_data_root

TRIAL = str(SPEC.replace("cocoa.yaml", "trial.yaml"))


def test_cross_dataset_trial_prints_source_target_and_per_target_metrics():
    result = run_orch(
        "trial", TRIAL, "--json",
        "--set", "protocol.kind=cross_dataset", "--set", "protocol.source=toy_source",
        "--set", "protocol.targets=[toyworld, toy_glyphs]",
        "--set", "data.shots=2", "--set", "data.n_views=1", "--set", "train.epochs=1",
        "--set", "train.weight_epochs=1", "--set", "method.pool_size=200",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    final = json.loads(result.stdout)
    for key in ("source_acc", "target_acc", "hm", "ece", "ece_source", "ece_target"):
        assert 0 <= final[key] <= 100 and 0 <= final[f"test_{key}"] <= 100
    per_target = [final[f"test_target_acc/{t}"] for t in ("toyworld", "toy_glyphs")]
    assert final["test_target_acc"] == pytest.approx(sum(per_target) / 2, abs=1e-3)
    hm = 2 * final["test_source_acc"] * final["test_target_acc"]
    hm /= final["test_source_acc"] + final["test_target_acc"]
    assert final["test_hm"] == pytest.approx(hm, abs=1e-3)
    assert {"test_ece_target/toyworld", "test_ece_target/toy_glyphs"} <= set(final)
    assert final["cost_cell_s"] > 0 and final["cost_wall_s"] >= final["cost_cell_s"] * 0.9


def _hide_new_classes(data_root):
    """A copy of toyworld whose new classes have no image files and renamed classes: any
    read of a new-class image fails, and any use of a new-class name leaves that name in the
    feature cache's key files. Returns (split file, its original text, the hidden files)."""
    source = default_data_root() / "toyworld"
    read_split(default_data_root(), "toyworld")  # generated on first use
    shutil.copytree(source, data_root / "toyworld")
    split_path = data_root / "toyworld" / "split_toyworld.json"
    original = split_path.read_text()
    split = json.loads(original)
    n_base = (max(label for _, label, _ in split["train"]) + 2) // 2
    hidden = data_root / "hidden"
    for part in split.values():
        for entry in part:
            if entry[1] >= n_base:
                path = data_root / "toyworld" / "images" / entry[0]
                if path.exists():
                    (hidden / entry[0]).parent.mkdir(parents=True, exist_ok=True)
                    path.rename(hidden / entry[0])
                entry[2] = f"zzleak{entry[1]}"
    split_path.write_text(json.dumps(split))
    return split_path, original, hidden


def chosen_of(configs):
    (chosen,) = [c for c in configs if c.data.tags.get("selected") == "true"]
    return chosen


@pytest.mark.slow
def test_pseudo_new_sweep_selects_without_new_classes_then_refits(tmp_path):
    data_root = tmp_path / "data"
    split_path, original, hidden = _hide_new_classes(data_root)
    env = {"ORCH_DATA": str(data_root), "ORCH_CACHE": str(tmp_path / "cache")}
    args = ("sweep", SPEC, *TINY, "--set", "search.num_trials=2", "--set", "data.n_views=1")
    args += ("--set", "selection.split=pseudo_new")
    first = run_orch(*args, env=env, cwd=tmp_path)

    # the selection was made without any new class: only the refit reached for one
    assert first.returncode == 2, first.stderr[-3000:]
    assert "refit of the selected configuration failed" in first.stderr
    assert "image not found" in first.stderr and "--resume" in first.stderr
    client = client_for(tmp_path)
    (parent,), configs = children(client)
    assert len(configs) == 2 and {c.info.status for c in configs} == {"FINISHED"}
    assert [c.data.tags.get("selected") for c in configs].count("true") == 1
    assert parent.info.status == "FAILED"
    note = parent.data.tags["mlflow.note.content"]  # the selection stands, the failure is told
    assert "**The refit failed**" in note and "**Validated on pseudo-new classes**" in note
    # the refit (its run made when it started) is the first to encode a new-class name
    (refit,) = [r for r in cells_of(client, chosen_of(configs)) if "ray_trial_id" in r.data.tags]
    assert refit.info.status == "FAILED" and refit.data.tags["point"] == "refit"
    before = [
        p.read_text()
        for p in (tmp_path / "cache").rglob("*.json")
        if p.stat().st_mtime * 1000 < refit.info.start_time
    ]
    assert any("circle" in text for text in before)  # base names were encoded ...
    assert not any("zzleak" in text for text in before)  # ... no new-class name was
    for config in configs:
        assert config.data.params["selection.split"] == "pseudo_new"
        assert "refit_test_hm" not in config.data.metrics

    # the files are back: --resume runs only the refit, on the real base and new classes
    shutil.copytree(hidden, data_root / "toyworld" / "images", dirs_exist_ok=True)
    split_path.write_text(original)
    second = run_orch(*args, "--resume", env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "refit on all base classes" in second.stdout
    assert "already filled" in second.stdout  # no fill task started
    (parent,), configs = children(client)
    assert parent.info.status == "FINISHED" and len(configs) == 2
    chosen = chosen_of(configs)
    refit_metrics = chosen.data.metrics
    for key in ("hm", "ece", "base_acc", "new_acc"):
        assert 0 < refit_metrics[f"refit_test_{key}"] <= 100
    assert refit_metrics["refit_test_hm"] != pytest.approx(refit_metrics["test_hm"])
    refit_runs = [r for r in cells_of(client, chosen) if "ray_trial_id" in r.data.tags]
    assert len(refit_runs) == 1  # the failed refit's run was replaced
    assert refit_runs[0].info.status == "FINISHED"
    assert chosen.data.tags["orch.refit_run_id"] == refit_runs[0].info.run_id
    assert refit_runs[0].data.params["selection.split"] == "val"
    (cell,) = cells_of(client, refit_runs[0])
    assert cell.data.metrics["test_hm"] == pytest.approx(refit_metrics["refit_test_hm"])


@pytest.mark.slow
def test_time_budget_ends_the_sweep_cleanly(tmp_path):
    points = (
        "search.points_to_evaluate=[{name: quick, values: {train.epochs: 1}}, "
        "{name: long, values: {train.epochs: 400, train.batch_size: 1}}]"
    )
    result = run_orch(
        "sweep", SPEC, *TINY, "--set", "search.num_trials=4", "--set", "search.max_concurrent=1",
        "--set", points, "--set", "search.time_budget_s=25", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ended by its time budget of 25 s: 1 running trial(s) stopped" in result.stdout
    assert "cost:" in result.stdout
    client: MlflowClient = client_for(tmp_path)
    (parent,), configs = children(client)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["ended_by"] == "time budget"
    by_point = {c.data.tags.get("point"): c for c in configs}
    assert set(by_point) == {"quick", "long"}  # the budget ran out before the rest began
    quick, long = by_point["quick"], by_point["long"]
    assert quick.info.status == "FINISHED" and quick.data.tags["selected"] == "true"
    assert long.info.status == "KILLED" and long.data.tags["stopped_by"] == "time budget"
    assert "pruned" not in long.data.tags
    assert 0 < long.data.metrics["cost_cell_s"] < 25
    assert parent.data.metrics["cost_cell_s"] == pytest.approx(
        quick.data.metrics["cost_cell_s"] + long.data.metrics["cost_cell_s"]
    )
    # a --resume of the ended sweep keeps the budget's verdict: nothing rerun or retagged
    resumed = run_orch(
        "sweep", SPEC, *TINY, "--set", "search.num_trials=4", "--set", "search.max_concurrent=1",
        "--set", points, "--set", "search.time_budget_s=25", "--resume", cwd=tmp_path,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "1 finished, 0 pruned, 1 stopped, 0 failed" in resumed.stdout
    (parent,), configs = children(client)
    assert parent.data.tags["ended_by"] == "time budget" and len(configs) == 2
    (long,) = [c for c in configs if c.data.tags.get("point") == "long"]
    assert long.info.status == "KILLED" and long.data.tags["stopped_by"] == "time budget"


def test_a_resumed_configuration_keeps_counting_its_cost():
    from orchestrator.spec.load import load_spec
    from workers.cells import run_protocol

    tiny = {"data.shots": 2, "data.n_views": 1, "train.epochs": 2, "train.weight_epochs": 0}
    spec = load_spec(TRIAL, {**tiny, "method.pool_size": 200, "protocol.seeds": [1, 2]})
    reports = []
    # a state as the trainable saves it: a copy, not the live tensors training goes on with
    full = run_protocol(
        spec.trial, spec.protocol, report=lambda m, c, s: reports.append((m, c, deepcopy(s)))
    )
    first, first_cells, state = reports[0]
    assert first["cost_cell_s"] == pytest.approx(sum(c.metrics["cost_s"] for c in first_cells))
    resumed = run_protocol(spec.trial, spec.protocol, resume_state=state)
    assert resumed.metrics["cost_cell_s"] > first["cost_cell_s"]
    assert resumed.metrics["cost_wall_s"] > first["cost_wall_s"]
    assert resumed.metrics["cost_gpu_s"] == 0  # no GPU held on a CPU-only run
    for key in ("test_hm", "test_ece", "hm_std"):  # the numbers are the uninterrupted run's
        assert resumed.metrics[key] == pytest.approx(full.metrics[key], abs=1e-4)
