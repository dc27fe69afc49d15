"""Tables and the replayed space: a table gives back exactly what was written, and each point
the searcher proposes is answered by the recorded configuration nearest it, or refused."""

import itertools
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestrator.cli import main
from orchestrator.search.replay import ReplaySpace
from orchestrator.spec.load import load_spec
from tests.helpers import ROOT
from workers.errors import ConfigError
from workers.table import RecordedConfiguration, RecordedReport, read_table, write_table

COCOA = ROOT / "search_spaces" / "cocoa.yaml"
VOCABS = ["random_words", "wordnet_nouns", "wordnet_near_ood", "random_strings"]


def reports(seed: float, epochs: int = 2) -> tuple[RecordedReport, ...]:
    """``epochs`` validation reports, then a final one with test metrics (as a trial makes)."""
    made = [
        RecordedReport(
            seconds=0.25 * (e + 1),
            metrics={"epoch": float(e + 1), "hm": seed + e / 3, "ece": 10 - seed / 7},
            cells=({"dataset": "toyworld", "seed": 1, "hm": seed + e / 3},),
        )
        for e in range(epochs)
    ]
    final = {**made[-1].metrics, "final": 1.0, "test_hm": seed + 0.1, "test_ece": 1 / 3}
    return (*made, RecordedReport(seconds=0.125, metrics=final, cells=made[-1].cells))


def grid_table(path, *, vocabs=VOCABS, lam_high=16.0, protocol=None, spec=None):
    """Every corner of the cocoa space (and its two named points) as a recorded sweep."""
    spec = spec or load_spec(COCOA)
    configurations = []
    corners = itertools.product(
        [0.0, 10.0], [0.0, 2.0], [0.0, lam_high], vocabs, ["step", "epoch"], [0.0005, 0.01]
    )
    for i, (w, d, lam, vocab, resample, lr) in enumerate(corners):
        overrides = {
            "method.w": w,
            "method.d": d,
            "method.lam": lam,
            "method.outlier_vocab": vocab,
            "method.resample_every": resample,
            "train.lr": lr,
        }
        configurations.append(RecordedConfiguration(overrides, None, f"t{i}", reports(40 + i)))
    shared = {"method.outlier_vocab": "wordnet_nouns", "method.resample_every": "step"}
    shared["train.lr"] = 0.002
    for point in spec.sweep.search.points_to_evaluate:
        overrides = {**shared, **point.values}
        configurations.append(RecordedConfiguration(overrides, point.name, point.name, reports(7)))
    return write_table(
        path,
        configurations,
        trial=spec.trial.to_dict(),
        protocol=protocol or spec.protocol.to_dict(),
        source="a hand-made grid",
    )


def test_a_table_gives_back_exactly_what_was_written(tmp_path):
    awkward = 0.1 + 0.2  # not 0.3: a float32 or a decimal round trip would lose it
    written = [
        RecordedConfiguration(
            {"train.lr": awkward, "method.lam": 3, "method.mixture": False, "x.name": "é"},
            "coop",
            "trial_a",
            (
                RecordedReport(1 / 3, {"hm": awkward, "ece": 1e-300}, ({"hm": awkward},)),
                RecordedReport(2.5, {"hm": 71.0, "final": 1.0, "test_hm": math.pi}),
            ),
        ),
        RecordedConfiguration({"train.lr": 5e-4}, None, "trial_b", (RecordedReport(0.0, {}),)),
    ]
    path = write_table(
        tmp_path / "t.parquet", written, trial={"a": 1}, protocol={"kind": "x"}, source="s"
    )
    table = read_table(path)
    assert list(tmp_path.iterdir()) == [path]  # no partial file left beside it
    assert (table.trial, table.protocol, table.source) == ({"a": 1}, {"kind": "x"}, "s")
    assert [c.overrides for c in table.configurations] == [c.overrides for c in written]
    first = table.configurations[0]
    assert type(first.overrides["method.lam"]) is int  # an int stays an int
    assert first.reports[0].metrics == {"hm": awkward, "ece": 1e-300}  # bit for bit
    # the first report lacks the final report's columns: they are absent, not NaN
    assert "test_hm" not in first.reports[0].metrics
    assert first.reports[1].metrics == {"hm": 71.0, "final": 1.0, "test_hm": math.pi}
    assert first.reports[0].cells == ({"hm": awkward},)
    assert [r.seconds for r in first.reports] == [1 / 3, 2.5]
    assert (first.point, table.configurations[1].point) == ("coop", None)
    assert table.configurations[1].reports[0].metrics == {}


def test_a_missing_file_or_a_foreign_parquet_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="no such file; `orch table` makes one"):
        read_table(tmp_path / "absent.parquet")
    pq.write_table(pa.table({"a": [1]}), tmp_path / "foreign.parquet")
    with pytest.raises(ConfigError, match="not an orch table"):
        read_table(tmp_path / "foreign.parquet")
    (tmp_path / "text.parquet").write_text("hello")
    with pytest.raises(ConfigError, match="not a Parquet file"):
        read_table(tmp_path / "text.parquet")


def test_a_recorded_point_is_answered_by_itself_and_another_by_its_nearest(tmp_path):
    spec = load_spec(COCOA)
    space = ReplaySpace(spec, read_table(grid_table(tmp_path / "t.parquet")))
    assert "130 recorded configurations" in space.check()
    exact = {
        "method.w": 10.0,
        "method.d": 0.0,
        "method.lam": 16.0,
        "method.outlier_vocab": "wordnet_near_ood",
        "method.resample_every": "epoch",
        "train.lr": 0.01,
    }
    answer = space.answer(exact)
    assert answer.distance == 0 and dict(answer.overrides) == exact and answer.point is None
    near = {**exact, "method.w": 8.0, "method.d": 0.3, "method.lam": 13.0, "train.lr": 0.006}
    answer = space.answer(near)
    assert dict(answer.overrides) == exact
    # w 0.2 and lam 0.1875 of their spans away, d 0.15, lr on its log scale
    lr = (math.log(0.01) - math.log(0.006)) / (math.log(0.01) - math.log(0.0005))
    assert answer.distance == pytest.approx(math.sqrt(0.2**2 + 0.15**2 + 0.1875**2 + lr**2))
    # lam 9 lies nearer 16 than 0; lam 7 nearer 0
    assert space.answer({**exact, "method.lam": 9.0}).overrides["method.lam"] == 16.0
    assert space.answer({**exact, "method.lam": 7.0}).overrides["method.lam"] == 0.0


def test_a_named_point_is_answered_by_its_own_recording(tmp_path):
    spec = load_spec(COCOA)
    space = ReplaySpace(spec, read_table(grid_table(tmp_path / "t.parquet")))
    coop = next(p for p in spec.sweep.search.points_to_evaluate if p.name == "coop")
    # the searched values it is proposed with differ from its recording's: the constants
    # (mixture off) still decide, since no grid corner has the mixture off
    answer = space.answer({"method.outlier_vocab": "random_words", "train.lr": 0.01}, coop.values)
    assert answer.point == "coop"
    assert answer.overrides["method.mixture"] is False


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"vocabs": VOCABS[:3]}, r"space.method.outlier_vocab: the table never tried \['random_"),
        ({"lam_high": 8.0}, r"space.method.lam: 0..16 reaches beyond what the table sampled"),
        ({"protocol": {"kind": "base_to_new"}}, r"recorded under another protocol: protocol\."),
    ],
)
def test_a_spec_the_table_cannot_answer_is_refused(tmp_path, change, refusal):
    spec = load_spec(COCOA)
    space = ReplaySpace(spec, read_table(grid_table(tmp_path / "t.parquet", **change)))
    with pytest.raises(ConfigError, match=refusal):
        space.check()


def test_a_fixed_setting_the_table_never_recorded_is_refused_naming_it(tmp_path):
    table = grid_table(tmp_path / "t.parquet")
    spec = load_spec(COCOA, {"train.epochs": 3})
    with pytest.raises(ConfigError, match=r"no recorded configuration has train.epochs=3 \(rec"):
        ReplaySpace(spec, read_table(table)).answer({})


def test_validate_refuses_an_unanswerable_replay_in_one_line_with_exit_2(tmp_path, capsys):
    table = grid_table(tmp_path / "t.parquet", vocabs=VOCABS[:3])
    code = main(["validate", str(COCOA), "--replay", str(table)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "the table never tried" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]  # nothing written
    code = main(["validate", str(COCOA), "--replay", str(grid_table(tmp_path / "u.parquet"))])
    assert code == 0
