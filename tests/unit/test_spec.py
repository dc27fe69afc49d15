from pathlib import Path

import pytest
import yaml

from orchestrator.spec import load_spec, parse_overrides
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
