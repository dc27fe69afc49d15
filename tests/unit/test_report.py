"""`orch report`'s text and the sweep run's description, from a hand-made sweep result."""

import json
import os
import re

from orchestrator.report.summary import description, front_columns, text_table
from orchestrator.report.sweep_report import print_result
from orchestrator.selection.results import SweepResult, TrialRecord
from orchestrator.selection.rule import Objective, SelectionRule
from orchestrator.tracking.links import compare_link, run_link, runs_link, ui_base

SEARCHED = ["w", "d", "lambda", "outlier_vocab", "resample_every", "lr"]
DATASETS = ("toy_glyphs", "toy_textures", "toyworld")


def record(run_id, number, metrics, *, point=None, pareto=False, selected=False, **params):
    tags = {"orch.trial_number": str(number), **({"point": point} if point else {})}
    name = (f"{point}: " if point else f"#{number} ") + " ".join(
        f"{k}={v}" for k, v in params.items()
    )
    params = {"protocol.cells": "6", "protocol.kind": "base_to_new", **params}
    full = {**metrics, "hm_std": 1.5, "ece_std": 0.5, "test_hm_std": 1.0, "test_ece_std": 0.25}
    for offset, dataset in zip((-10.0, 0.0, 10.0), DATASETS, strict=True):  # 3 datasets x 2 seeds
        for key in ("hm", "ece", "test_hm", "test_ece"):
            full[f"{key}/{dataset}"] = metrics[key] + offset
    return TrialRecord(run_id, name, "FINISHED", params, full, tags, pareto, selected)


def metrics(hm, ece, test_hm, test_ece):
    return {
        "hm": hm, "ece": ece, "base_acc": hm + 2, "new_acc": hm - 2,
        "test_hm": test_hm, "test_ece": test_ece, "test_base_acc": 70.0, "test_new_acc": 69.0,
        "cost_cell_s": 10.0, "cost_gpu_s": 0.0,
    }  # fmt: skip


def sweep_result() -> SweepResult:
    a = "a" * 32
    trials = [
        record("c" * 32, 0, metrics(72.7, 11.3, 71.0, 7.0), point="coop",
               w="0.0", **{"lambda": "0.0"}, outlier_vocab="random_strings",
               resample_every="step", lr="0.001779"),
        record("z" * 32, 1, metrics(71.8, 6.6, 71.8, 6.6), point="zero_shot"),
        record(a, 7, metrics(73.63, 9.08, 71.62, 6.61), pareto=True, selected=True,
               w="0.9712", d="1.681", **{"lambda": "1.543"}, outlier_vocab="wordnet_near_ood",
               resample_every="epoch", lr="0.002742"),
        record("b" * 32, 4, metrics(74.1, 10.4, 72.0, 7.5), pareto=True,
               w="3.2", d="0.4", **{"lambda": "9.1"}, outlier_vocab="wordnet_nouns",
               resample_every="step", lr="0.0091"),
    ]  # fmt: skip
    trials[1].pareto = True  # zero-shot on the front: lowest ECE
    result = SweepResult(
        "cocoa-toyworld",
        "p" * 32,
        [Objective(metric="hm", mode="max"), Objective(metric="ece", mode="min")],
        SelectionRule(),
        trials,
        reason="hm best with ece <= 10",
        wall_s=361.0,
        experiment_id="3",
        searched=SEARCHED,
        journal="/work/orch_runs/cocoa-toyworld-20261129-120000/optuna.journal",
    )
    return result


def test_the_front_is_titled_with_settings_as_columns_and_lines_fit_120(capsys):
    print_result(sweep_result(), "sqlite:////elsewhere/mlflow.db")
    out = capsys.readouterr().out
    assert "Pareto front (validation, mean over 3 datasets x 2 seeds; test beside): 3 of 4" in out
    assert "±: the standard deviation over seeds of the mean over datasets" in out
    lines = out.splitlines()
    for line in lines:  # links are exempt: a terminal opens them only whole
        assert len(line) <= 120 or "http://" in line, line
    # every searched setting is a column header, nowhere a cut name
    headers = " ".join(line for line in lines if line.lstrip().startswith("trial "))
    for name in SEARCHED:
        assert re.search(rf"\b{name}\b", headers), name
    row = next(line for line in lines if line.startswith("*"))
    assert "#7" in row and "73.63 ± 1.50" in row and "71.62" in row
    chosen = " ".join(line for line in lines if line.startswith("*"))  # each block's row
    for shown in ("0.971", "1.68", "1.54", "wordnet_near_ood", "epoch", "0.00274"):
        assert f" {shown} " in f"{chosen} ", shown
    # coop did not sample d: '-' in its row, never a number
    coop = [line.split() for line in lines if line.startswith("ref") and "coop" in line]
    assert any("-" in cells for cells in coop)
    assert "selected vs zero_shot: hm +1.83, ece +2.48 (validation)" in out


def test_hints_carry_the_tracking_uri_and_deep_links(capsys):
    print_result(sweep_result(), "sqlite:////elsewhere/mlflow.db", port=5077)
    out = capsys.readouterr().out
    assert "`orch report --tracking-uri sqlite:////elsewhere/mlflow.db`" in out
    assert "orch ui --tracking-uri sqlite:////elsewhere/mlflow.db" in out
    assert "http://127.0.0.1:5077/#/experiments/3/runs?workflowType=machine_learning" in out
    assert "#/compare-runs?runs=" in out and "a" * 32 in out.split("compare the front:")[1]
    assert "optuna-dashboard /work/orch_runs/" in out
    print_result(sweep_result(), "http://mlflow.lab:5000")
    server = capsys.readouterr().out
    assert "http://mlflow.lab:5000/#/experiments/3/runs?workflowType=machine_learning" in server
    assert "--tracking-uri http://mlflow.lab:5000" in server


def test_wide_prints_one_block_with_each_datasets_means(capsys):
    print_result(sweep_result(), "sqlite:////elsewhere/mlflow.db", width=None)
    lines = capsys.readouterr().out.splitlines()
    assert sum(1 for line in lines if line.lstrip().startswith("trial ")) == 1
    header = next(line for line in lines if line.lstrip().startswith("trial "))
    for dataset in DATASETS:
        assert f"hm {dataset}" in header and f"test ece {dataset}" in header
    row = next(line for line in lines if line.startswith("*")).split()
    assert "63.63" in row and "83.63" in row  # #7's hm on toy_glyphs, on toyworld


def test_the_report_wraps_at_the_terminals_width_on_a_terminal(monkeypatch):
    from orchestrator.report import sweep_report as report

    monkeypatch.setattr(report.sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(
        report.shutil, "get_terminal_size", lambda fallback: os.terminal_size((87, 40))
    )
    assert report.report_width(False) == 87 and report.report_width(True) is None
    monkeypatch.setattr(report.sys.stdout, "isatty", lambda: False, raising=False)
    assert report.report_width(False) == 120


def test_wrapping_repeats_the_trial_column_and_never_cuts_a_cell():
    columns = front_columns(sweep_result())
    lines = text_table(columns, width=60)
    assert all(len(line) <= 60 for line in lines)
    assert sum(1 for line in lines if line.lstrip().startswith("trial ")) >= 3
    assert all(
        "wordnet_near_ood" in line for line in lines if line.startswith("*") and "wordnet" in line
    )


def test_json_has_the_rule_the_reason_and_labels():
    data = json.loads(json.dumps(sweep_result().as_json()))
    assert data["reason"] == "hm best with ece <= 10"
    assert data["rule"].startswith("highest hm among trials with ece <= 10")
    assert data["searched"] == SEARCHED and data["front_size"] == 3
    assert {t["label"] for t in data["trials"]} == {"coop", "zero_shot", "#7", "#4"}


def test_description_is_markdown_with_the_front_rule_reason_and_links():
    text = description(sweep_result(), spec="search_spaces/cocoa.yaml", cost="6 min 1 s wall")
    assert "**Selection rule**: highest hm among trials with ece <= 10" in text
    assert f"[#7](#/experiments/3/runs/{'a' * 32}) (hm best with ece <= 10)" in text
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert table[0].split("|")[2].strip() == "trial" and "outlier_vocab" in table[0]
    assert len(table) == 2 + 4  # header, rule, the front (3) and coop, a reference
    assert "[Compare the front](#/compare-runs?runs=" in text
    assert "`optuna-dashboard /work/orch_runs/" in text


def test_links_ask_for_the_machine_learning_view():
    assert ui_base("sqlite:///x/mlflow.db", 5001) == "http://127.0.0.1:5001"
    assert ui_base("http://h:5000/") == "http://h:5000"
    assert runs_link("", "2") == "#/experiments/2/runs?workflowType=machine_learning"
    assert run_link("http://h", "2", "r1") == "http://h/#/experiments/2/runs/r1"
    link = compare_link("http://h", "2", ["b", "a"])
    assert link == "http://h/#/compare-runs?runs=%5B%22a%22%2C%22b%22%5D&experiments=%5B%222%22%5D"


def test_a_leak_free_description_says_what_it_validated_on():
    result = sweep_result()
    for trial in result.trials:
        trial.params["selection.split"] = "pseudo_new"
    assert "**Validated on pseudo-new classes**" in description(result)
    assert "pseudo-new" not in description(sweep_result())


def test_a_sweep_where_nothing_finished_exits_1_with_the_first_error(capsys):
    from dataclasses import replace

    from orchestrator.commands.sweep import nothing_finished

    result = sweep_result()
    assert nothing_finished(result) == 0  # something finished: a selection exists
    result.trials = [
        replace(t, status="FAILED", pareto=False, selected=False, tags={**t.tags, "error": e})
        for t, e in zip(
            result.trials, ["DataError: words.txt not found", "NaN", "a", "b"], strict=True
        )
    ]
    assert nothing_finished(result) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("orch sweep: error: none of the 4 configurations finished")
    assert "the first error: DataError: words.txt not found" in line
