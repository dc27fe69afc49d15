"""Cells and their aggregation: hand-computed means, spreads and per-dataset means."""

import math

import pytest

from orchestrator.spec.baselines import BASELINES
from orchestrator.spec.load import load_spec
from tests.unit.test_spec import COCOA, write
from workers.config import TrialConfig
from workers.errors import ConfigError
from workers.messages import CellResult, ReliabilityDiagram, TrialRequest
from workers.protocol import Cell, Protocol, aggregate, groups


def test_cells_default_to_the_trials_own_dataset_and_seed():
    cfg = TrialConfig().with_overrides({"train.seed": 7})
    assert Protocol().cells(cfg) == [Cell("toyworld", 7)]
    two = Protocol(seeds=(1, 2), datasets=("a", "b"))
    assert two.cells(cfg) == [Cell("a", 1), Cell("a", 2), Cell("b", 1), Cell("b", 2)]
    assert Cell("a", 2).config(cfg).flat()["data.dataset"] == "a"
    assert Cell("a", 2).config(cfg).train.seed == 2
    assert two.parallel(cfg) == 4 and Protocol(seeds=(1, 2), parallel_cells=8).parallel(cfg) == 2


def test_groups_deal_cells_round_robin():
    cells = [Cell("d", s) for s in range(5)]
    assert groups(cells, 2) == [[cells[0], cells[2], cells[4]], [cells[1], cells[3]]]
    assert groups(cells, 5) == [[c] for c in cells]


def test_aggregate_means_spread_and_per_dataset_by_hand():
    per_cell = [
        (Cell("a", 1), {"hm": 60.0, "ece": 4.0, "base_acc": 70.0, "loss": 1.0}),
        (Cell("a", 2), {"hm": 62.0, "ece": 6.0, "base_acc": 72.0, "loss": 3.0}),
        (Cell("a", 3), {"hm": 64.0, "ece": 8.0, "base_acc": 74.0, "loss": 2.0}),
        (Cell("b", 1), {"hm": 80.0, "ece": 2.0, "base_acc": 90.0, "loss": 2.0}),
    ]
    out = aggregate(per_cell)
    # the mean over datasets of each dataset's mean over seeds: (62 + 80) / 2, not 266 / 4
    assert out["hm"] == pytest.approx(71.0) and out["ece"] == pytest.approx((6.0 + 2.0) / 2)
    assert out["loss"] == pytest.approx((2.0 + 2.0) / 2)
    assert out["hm/a"] == pytest.approx(62.0) and out["hm/b"] == pytest.approx(80.0)
    assert out["base_acc/a"] == pytest.approx(72.0)
    # the spread over seeds of the dataset-averaged figure: seed 1 (60 + 80) / 2 = 70,
    # seed 2 62, seed 3 64 (dataset b has no seeds 2, 3): stdev(70, 62, 64) = sqrt(52 / 3)
    assert out["hm_std"] == pytest.approx(math.sqrt(((70 - 196 / 3) ** 2 + (62 - 196 / 3) ** 2
                                                     + (64 - 196 / 3) ** 2) / 2))  # fmt: skip
    assert "loss_std" not in out and "loss/a" not in out
    assert list(out)[:4] == ["hm", "hm_std", "hm/a", "hm/b"]  # the cells' own order first


def test_the_spread_is_over_seeds_never_over_datasets():
    """A hard and an easy dataset used to give 73.63 ± 9.44 to a configuration with no noise."""
    same_every_seed = [
        (Cell(d, s), {"hm": hm, "ece": 5.0}) for d, hm in (("hard", 60.0), ("easy", 90.0))
        for s in (1, 2, 3)
    ]  # fmt: skip
    out = aggregate(same_every_seed)
    assert out["hm"] == pytest.approx(75.0) and out["hm_std"] == pytest.approx(0.0)
    one_seed = aggregate([(c, m) for c, m in same_every_seed if c.seed == 1])
    assert one_seed["hm"] == pytest.approx(75.0) and "hm_std" not in one_seed


def test_aggregate_of_one_cell_is_the_cell_and_never_averages_away_nan():
    one = aggregate([(Cell("a", 1), {"hm": 50.0, "ece": 3.0})])
    assert one["hm"] == 50.0 and "hm_std" not in one and one["hm/a"] == 50.0
    bad = aggregate([(Cell("a", 1), {"hm": math.nan}), (Cell("a", 2), {"hm": 40.0})])
    assert math.isnan(bad["hm"]) and math.isnan(bad["hm_std"]) and math.isnan(bad["hm/a"])


@pytest.mark.parametrize(
    "raw, needle",
    [
        ({"seeds": []}, "protocol.seeds: an empty list"),
        ({"datasets": []}, "protocol.datasets: an empty list"),
        ({"seeds": [1, 1]}, "distinct"),
        ({"seeds": ["one"]}, "integers"),
        ({"parallel_cells": 0}, "parallel_cells >= 1"),
        ({"seeds": 3}, "a list is needed"),
        ({"seed": [1]}, "unknown key"),
    ],
)
def test_bad_protocol_is_one_clear_error(raw, needle):
    with pytest.raises(ConfigError, match=needle):
        Protocol.from_dict(raw)


def test_searching_a_seed_the_protocol_repeats_is_refused(tmp_path):
    def mutate(raw):
        raw["protocol"] = {"seeds": [1, 2, 3]}
        raw["space"]["train.seed"] = {"choices": [1, 2, 3]}

    with pytest.raises(ConfigError, match="lucky seed"):
        load_spec(write(tmp_path, mutate))
    spec = load_spec(COCOA, {"protocol.seeds": [1, 2], "protocol.datasets": ["toyworld"]})
    assert [c.seed for c in spec.protocol.cells(spec.trial)] == [1, 2]


def test_request_and_cell_results_cross_as_plain_data():
    request = TrialRequest(
        TrialConfig(), {"method.w": 2.0}, "coop", Protocol(seeds=(1, 2), datasets=("a",))
    )
    again = TrialRequest.from_ray(request.to_ray())
    assert again == request and again.config().method.w == 2.0 and len(again.cells()) == 2
    diagram = ReliabilityDiagram("test", "base", (0.0, 0.5, 1.0), (1, 3), (1.0, 0.5), (0.4, 0.8))
    # ECE by hand: 1/4 * |1.0 - 0.4| + 3/4 * |0.5 - 0.8| = 0.15 + 0.225
    assert diagram.ece == pytest.approx(37.5)
    cell = CellResult(Cell("a", 1), {"hm": 1.0}, (diagram,))
    assert CellResult.from_dict(cell.to_dict()) == cell


def test_cocoa_mix_baselines_train_with_adam_at_the_reference_lr():
    for name in ("cocoa_mix", "cocoa_mix_dor"):
        assert BASELINES[name]["train.optimizer"] == "adam"
        assert BASELINES[name]["train.lr"] == 0.002
