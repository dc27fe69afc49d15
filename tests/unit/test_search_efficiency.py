"""bench/search_efficiency.py's simulation on a hand-made table: what it spends and measures."""

import importlib.util
import math
import sys

from tests.helpers import ROOT
from tests.unit.test_replay import COCOA, grid_table

spec_of = importlib.util.spec_from_file_location(
    "search_efficiency", ROOT / "bench" / "search_efficiency.py"
)
bench = importlib.util.module_from_spec(spec_of)
sys.modules["search_efficiency"] = bench  # its dataclasses look their module up
spec_of.loader.exec_module(bench)


def test_a_run_spends_its_budget_and_its_front_only_grows(tmp_path):
    table = grid_table(tmp_path / "t.parquet")
    run = bench.simulate((str(COCOA), str(table), "random", "none", 0, 40))
    spent = [h["spent"] for h in run["history"]]
    # every recorded configuration of the grid trained 2 epochs, its named points too
    assert all(b - a == 2 for a, b in zip([0, *spent], spent, strict=False))
    assert spent[-1] >= 40 > spent[-2]
    volumes = [h["volume"] for h in run["history"]]
    # (to rounding: the slices of a larger front add up in another order)
    assert all(b >= a - 1e-9 for a, b in zip(volumes, volumes[1:], strict=False))
    assert volumes[-1] > 0


def test_asha_stops_at_its_rung_and_pays_only_the_epochs_trained(tmp_path):
    table = grid_table(tmp_path / "t.parquet")
    full = bench.simulate((str(COCOA), str(table), "random", "none", 3, 60))
    early = bench.simulate((str(COCOA), str(table), "random", "asha", 3, 60))
    # the grid's rung is its last epoch (grace period 2): a stopped trial pays both epochs
    # and adds nothing to the front, so the same budget buys the same number of trials
    assert len(early["history"]) == len(full["history"])
    stopped = [h["stopped_at"] for h in early["history"] if h["stopped_at"] is not None]
    assert stopped and set(stopped) == {2}
    assert all(h["stopped_at"] is None for h in full["history"])
    # the same points were proposed (random search ignores results): a subset's front
    assert early["history"][-1]["volume"] <= full["history"][-1]["volume"] + 1e-9


def test_the_front_of_the_whole_table_is_what_a_run_through_all_of_it_reaches(tmp_path):
    table = grid_table(tmp_path / "t.parquet")
    spec = bench.load_spec(COCOA, {"replay.table": str(table)})
    configurations = [bench.recorded(c, spec) for c in bench.read_table(table).configurations]
    reference = bench.reference_point(configurations, spec)
    whole = bench.front_volume([c.final for c in configurations], spec, reference)
    # the hand-made table's hm rises and its ece falls with the index: one point dominates
    best = max(configurations, key=lambda c: c.final["hm"])
    hm, ece = best.final["hm"], best.final["ece"]
    assert math.isclose(whole, (hm - reference[0]) * (-ece - reference[1]))
