"""`orch trial` through the real CLI: bad input is one line, exit 2, nothing cached."""

import json

import pytest

from tests.helpers import assert_one_line_error, run_orch

SPEC = "search_spaces/trial.yaml"
FAST = [
    "--set",
    "data.shots=2",
    "--set",
    "data.n_views=1",
    "--set",
    "train.epochs=1",
    "--set",
    "train.weight_epochs=1",
    "--set",
    "method.pool_size=100",
]


def test_trial_json_has_validation_and_test_metrics(tmp_path):
    result = run_orch("trial", SPEC, *FAST, "--json", env={"ORCH_CACHE": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    final = json.loads(result.stdout)
    for name in ("base_acc", "new_acc", "hm", "ece_base", "ece_new", "ece"):
        assert 0 <= final[name] <= 100 and 0 <= final["test_" + name] <= 100
    assert any((tmp_path / "images").iterdir())


@pytest.mark.parametrize(
    "overrides, needles",
    [
        (["method.w=-1"], ["method.w", "w >= 0", "-1"]),
        (["method.lam=-2"], ["method.lam", "lambda >= 0"]),
        (["method.d=-0.5"], ["method.d", "d >= 0"]),
        (["prompt.n_ctx=0"], ["prompt.n_ctx", "n_ctx >= 1"]),
        (["method.lamda=1"], ["unknown key 'method.lamda'", "did you mean 'method.lam'"]),
        (["data.shots=500"], ["data.shots=500", "lower data.shots"]),
        (["method.outlier_vocab=file:/nonexistent/words.txt"], ["/nonexistent/words.txt"]),
    ],
)
def test_bad_values_fail_in_one_line_before_any_cache_write(tmp_path, overrides, needles):
    args = [a for o in overrides for a in ("--set", o)]
    result = run_orch("trial", SPEC, *args, env={"ORCH_CACHE": str(tmp_path / "cache")})
    assert_one_line_error(result, *needles)
    assert not (tmp_path / "cache").exists()


def test_too_small_vocabulary(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("one\ntwo\n")
    result = run_orch(
        "trial",
        SPEC,
        "--set",
        f"method.outlier_vocab=file:{words}",
        env={"ORCH_CACHE": str(tmp_path / "cache")},
    )
    assert_one_line_error(result, "leaves 2 words")


def test_malformed_and_missing_spec(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  name: toyclip\n   pretrained: [\n")
    assert_one_line_error(run_orch("trial", str(bad)), str(bad), "malformed YAML", "line")
    assert_one_line_error(run_orch("trial", str(tmp_path / "none.yaml")), "spec file not found")
    typo = tmp_path / "typo.yaml"
    typo.write_text("methd:\n  w: 1\n")
    assert_one_line_error(run_orch("trial", str(typo)), str(typo), "did you mean 'method'")
