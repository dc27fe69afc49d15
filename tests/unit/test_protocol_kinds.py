"""Cross-dataset cells and metrics, pseudo-new class splits, the time budget: by hand."""

import time

import pytest
import torch

from orchestrator.search.budget import TimeBudget
from orchestrator.spec.load import load_spec
from tests.unit.test_spec import write
from workers.config import TrialConfig
from workers.datasets import Datum
from workers.errors import ConfigError, DataError
from workers.messages import TrialRequest
from workers.metrics import transfer_metrics
from workers.protocol import Cell, Protocol
from workers.splits import base_new_items

CROSS = {"kind": "cross_dataset", "source": "src", "targets": ["t1", "t2"], "seeds": [1, 2]}


def test_cross_dataset_cells_learn_on_the_source_and_carry_the_targets():
    protocol = Protocol.from_dict(CROSS)
    cells = protocol.cells(TrialConfig())
    assert cells == [Cell("src", 1, ("t1", "t2")), Cell("src", 2, ("t1", "t2"))]
    assert protocol.metrics[:2] == ("source_acc", "target_acc")
    assert Protocol.from_dict(protocol.to_dict()) == protocol  # what crosses into Ray
    request = TrialRequest(TrialConfig(), protocol=protocol)
    assert TrialRequest.from_ray(request.to_ray()).cells() == cells


def test_pseudo_new_cells_are_marked_and_real_splits_are_not():
    cfg = TrialConfig()
    assert Protocol(split="pseudo_new").cells(cfg) == [Cell("toyworld", 1, pseudo_new=True)]
    assert Protocol().cells(cfg) == [Cell("toyworld", 1)]


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"kind": "cross_dataset", "targets": ["a"]}, "protocol.source"),
        ({"kind": "cross_dataset", "source": "a"}, "protocol.targets"),
        ({"kind": "cross_dataset", "source": "a", "targets": ["b", "a"]}, "also a target"),
        ({"kind": "cross_dataset", "source": "a", "targets": []}, "protocol.targets"),
        ({"kind": "cross_dataset", "source": "a", "targets": ["b"], "datasets": ["c"]}, "drop"),
        ({"source": "a", "targets": ["b"]}, "kind: cross_dataset"),
        ({"kind": "transfer"}, "protocol.kind"),
        ({"kind": "cross_dataset", "source": ["a"], "targets": ["b"]}, "protocol.source"),
        ({"kind": "cross_dataset", "source": "a", "targets": ["b"], "split": "pseudo_new"}, "val"),
    ],
)
def test_bad_protocols_name_their_key(raw, needle):
    with pytest.raises(ConfigError, match=needle):
        Protocol.from_dict(raw)


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda r: r["search"].update(time_budget_s=0), "search.time_budget_s"),
        (lambda r: r["search"].update(time_budget_s=-3), "search.time_budget_s"),
        (lambda r: r["protocol"].update(split="pseudo_new"), "selection.split"),
        (lambda r: r["selection"].update(split="test"), "selection.split"),
        (
            lambda r: (
                r.update(protocol={"kind": "cross_dataset", "source": "a", "targets": ["b"]})
                or r["selection"].update(metric="new_acc")
            ),
            "new_acc' is not reported by a cross_dataset protocol",
        ),
        (
            lambda r: (
                r.update(protocol={"kind": "cross_dataset", "source": "a", "targets": ["b"]})
                or r["space"].update({"data.dataset": {"choices": ["a", "b"]}})
            ),
            "protocol.source fixes it",
        ),
    ],
)
def test_bad_specs_name_their_key(tmp_path, mutate, needle):
    with pytest.raises(ConfigError, match=needle):
        load_spec(write(tmp_path, mutate))


def test_spec_selection_split_reaches_the_protocol(tmp_path):
    spec = load_spec(write(tmp_path, lambda r: r["selection"].update(split="pseudo_new")))
    assert spec.protocol.split == "pseudo_new"
    assert all(c.pseudo_new for c in spec.protocol.cells(spec.trial))


def test_transfer_metrics_by_hand():
    def onehot(pred, n, conf):  # probabilities with ``conf`` on the predicted class
        p = torch.full((len(pred), n), (1 - conf) / (n - 1))
        p[torch.arange(len(pred)), torch.tensor(pred)] = conf
        return p

    probs = {
        "src": onehot([0, 1, 1, 0], 2, 0.9),  # 3 of 4 right at 0.9: acc 75, ece |0.75-0.9|
        "t1": onehot([0, 1], 3, 0.6),  # 1 of 2 right: acc 50, ece 10
        "t2": onehot([2, 2], 3, 0.5),  # 2 of 2 right: acc 100, ece 50
    }
    labels = {
        "src": torch.tensor([0, 1, 0, 0]),
        "t1": torch.tensor([0, 2]),
        "t2": torch.tensor([2, 2]),
    }
    out = transfer_metrics(probs, labels, "src", n_bins=10)
    assert out["source_acc"] == pytest.approx(75.0)
    assert out["ece_source"] == pytest.approx(15.0)
    assert out["target_acc/t1"] == pytest.approx(50.0) and out["ece_target/t1"] == pytest.approx(10)
    assert out["target_acc/t2"] == pytest.approx(100.0) and out["ece_target/t2"] == pytest.approx(
        50
    )
    assert out["target_acc"] == pytest.approx(75.0) and out["ece_target"] == pytest.approx(30.0)
    assert out["hm"] == pytest.approx(75.0)  # HM(75, 75)
    assert out["ece"] == pytest.approx(22.5)


def _items(n_classes: int, per_class: int = 2) -> list[Datum]:
    return [
        Datum(f"/img/{c}_{i}.png", c, f"class{c}")
        for c in range(n_classes)
        for i in range(per_class)
    ]


def test_pseudo_new_splits_the_base_classes_and_never_returns_a_new_one():
    splits = {s: _items(10) for s in ("train", "val", "test")}  # base 0-4, new 5-9
    base = base_new_items(splits, "base", pseudo_new=True)
    new = base_new_items(splits, "new", pseudo_new=True)
    seen = {d.classname for part in (*base.values(), *new.values()) for d in part}
    assert seen == {f"class{c}" for c in range(5)}  # nothing of the real new classes
    assert {d.classname for d in base["train"]} == {"class0", "class1", "class2"}
    assert {d.classname for d in new["test"]} == {"class3", "class4"}
    assert sorted({d.label for d in new["val"]}) == [0, 1]  # relabelled from 0
    real = base_new_items(splits, "new")
    assert {d.classname for d in real["test"]} == {f"class{c}" for c in range(5, 10)}


def test_pseudo_new_refuses_too_few_base_classes():
    splits = {s: _items(2) for s in ("train", "val", "test")}  # one base class
    with pytest.raises(DataError, match="pseudo_new.*at least 2 base classes"):
        base_new_items(splits, "base", pseudo_new=True)


def test_time_budget_stops_all_once_spent_and_keeps_its_spending_across_a_save():
    import copy

    budget = TimeBudget(0.2)
    assert budget.stop_all() is False  # the first check starts the clock
    time.sleep(0.12)
    assert budget.stop_all() is False and not budget.spent
    restored = copy.deepcopy(budget)  # as Tune's saved state: a resumed sweep goes on from there
    assert restored.used == pytest.approx(budget.used) and restored.stop_all() is False
    time.sleep(0.1)
    assert restored.stop_all() is True and restored.spent
    assert budget("trial", {}) is False  # never one trial's stop
