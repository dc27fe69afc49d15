from pathlib import Path

import pytest
import yaml

from orchestrator.spec.load import load_spec, parse_overrides
from workers.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
COCOA = ROOT / "search_spaces" / "cocoa.yaml"


def write(tmp_path, mutate):
    raw = yaml.safe_load(COCOA.read_text())
    mutate(raw)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_shipped_specs_load_with_their_own_values():
    for path in sorted((ROOT / "search_spaces").rglob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        spec = load_spec(path)
        flat = spec.trial.flat()
        for section in ("model", "data", "prompt", "method", "train"):
            for key, value in (raw.get(section) or {}).items():  # nothing dropped or renamed
                assert flat[f"{section}.{key}"] == value, (path, section, key)
        assert set(spec.sweep.space) == set(raw.get("space") or {}), path
    spec = load_spec(COCOA)
    assert spec.sweep.search.num_trials >= 1
    assert {"method.w", "method.d", "method.lam", "method.outlier_vocab"} <= set(spec.sweep.space)
    assert [o.metric for o in spec.sweep.objectives] == ["hm", "ece"]


def test_set_overrides_any_key():
    spec = load_spec(
        COCOA,
        parse_overrides(
            [
                "search.num_trials=3",
                "train.epochs=2",
                "tracking.experiment=x",
                "space.method.w.high=4",
            ]
        ),
    )
    assert spec.sweep.search.num_trials == 3 and spec.trial.train.epochs == 2
    assert spec.sweep.tracking.experiment == "x" and spec.sweep.space["method.w"].high == 4


@pytest.mark.parametrize(
    "mutate, needles",
    [
        (
            lambda r: r["search"].update(num_trails=3),
            ["unknown key 'search.num_trails'", "num_trials"],
        ),
        (lambda r: r["search"].update(sampler="anneal"), ["search.sampler", "anneal"]),
        (lambda r: r["search"].update(num_trials="many"), ["search.num_trials", "many"]),
        (
            lambda r: r["space"].update({"method.w": {"low": 5, "high": 1}}),
            ["low <= high", "low=5"],
        ),
        (
            lambda r: r["space"].update({"train.lr": {"low": 0, "high": 1, "log": True}}),
            ["log=true needs low > 0"],
        ),
        (
            lambda r: r["space"].update({"method.ww": {"low": 0, "high": 1}}),
            ["'method.ww'", "did you mean 'method.w'"],
        ),
        (
            lambda r: r.update(objectives=[{"metric": "f1", "mode": "max"}]),
            ["'f1' is not reported"],
        ),
        (lambda r: r["space"].update({"method.w": {"low": -1, "high": 1}}), ["method.w", "w >= 0"]),
        (lambda r: r.update(serch={}), ["unknown section 'serch'", "did you mean 'search'"]),
        (
            lambda r: r["model"].update(nmae="x"),
            ["unknown key 'model.nmae'", "did you mean 'model.name'"],
        ),
        (lambda r: r["resources"].update(gpu=-1), ["resources.gpu"]),
    ],
)
def test_bad_specs_name_file_and_key(tmp_path, mutate, needles):
    path = write(tmp_path, mutate)
    with pytest.raises(ConfigError) as err:
        load_spec(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    for needle in needles:
        assert needle in message


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="key.path=value"):
        parse_overrides(["novalue"])
    with pytest.raises(ConfigError, match="unknown section 'trian'"):
        load_spec(COCOA, {"trian.epochs": 3})


@pytest.mark.parametrize(
    ("override", "fix"),
    [
        ("data.dataset=no_such_dataset", '--set "protocol.datasets=[no_such_dataset]"'),
        ("train.seed=4", '--set "protocol.seeds=[4]"'),
    ],
)
def test_a_setting_the_protocol_replaces_is_refused_with_the_override_to_use(override, fix):
    """Beside protocol.datasets (seeds), data.dataset (train.seed) would be silently ignored."""
    with pytest.raises(ConfigError) as caught:
        load_spec(
            ROOT / "search_spaces" / "cocoa.yaml",
            parse_overrides([override, "protocol.seeds=[1, 2]"]),
        )
    message = str(caught.value)
    assert override.split("=")[0] in message and fix in message and "do nothing" in message


def test_a_spec_file_setting_what_its_protocol_replaces_is_told_to_remove_it(tmp_path):
    raw = yaml.safe_load((ROOT / "search_spaces" / "cocoa.yaml").read_text())
    raw["data"]["dataset"] = "toy_glyphs"
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"data.dataset: 'toy_glyphs' would do nothing.*remove"):
        load_spec(path)


def test_without_a_protocol_axis_the_trial_setting_is_the_one_cell():
    spec = load_spec(ROOT / "search_spaces" / "trial.yaml", {"data.dataset": "toy_glyphs"})
    assert [c.dataset for c in spec.protocol.cells(spec.trial)] == ["toy_glyphs"]


def test_seeds_set_on_the_command_line_replace_the_spec_files_own_seed():
    spec = load_spec(COCOA, parse_overrides(["protocol.seeds=[1, 2]"]))
    assert {c.seed for c in spec.protocol.cells(spec.trial)} == {1, 2}


@pytest.mark.parametrize(
    ("space", "shown"),
    [
        ({"method.w": {"choices": [1.0, 2.0]}}, "method.w=0.0 is not one of [1.0, 2.0]"),
        ({"method.lam": {"low": 1.0, "high": 4.0}}, "method.lam=0.0 is not in 1..4"),
    ],
)
def test_a_named_point_outside_its_dimension_is_refused_before_optuna_sees_it(space, shown):
    overrides = {f"space.{key}": dim for key, dim in space.items()}
    with pytest.raises(ConfigError, match=r"search.points_to_evaluate 'coop': ") as refused:
        load_spec(COCOA, overrides)
    assert shown in str(refused.value) and "widen space." in str(refused.value)
