import pytest

from workers.config import TrialConfig
from workers.errors import ConfigError


def test_defaults_round_trip_through_a_plain_dict():
    cfg = TrialConfig()
    assert TrialConfig.from_dict(cfg.to_dict()) == cfg


def test_overrides_and_did_you_mean():
    cfg = TrialConfig().with_overrides({"method.w": 3.0, "train.epochs": 2})
    assert cfg.method.w == 3.0 and cfg.train.epochs == 2
    assert TrialConfig().prompt.shared_prefix  # on by default: exact, and faster
    assert not TrialConfig().with_overrides({"prompt.shared_prefix": False}).prompt.shared_prefix
    with pytest.raises(
        ConfigError, match="unknown key 'method.lamda' \\(did you mean 'method.lam'"
    ):
        TrialConfig().with_overrides({"method.lamda": 1.0})
    with pytest.raises(ConfigError, match="did you mean 'train'"):
        TrialConfig.from_dict({"trian": {}})


@pytest.mark.parametrize(
    "override, message",
    [
        ({"method.w": -1.0}, "method.w: w >= 0 must hold, but got -1.0"),
        ({"method.lam": -0.5}, "method.lam: lambda >= 0"),
        ({"method.d": -0.1}, "method.d: d >= 0"),
        ({"prompt.n_ctx": 0}, "prompt.n_ctx: n_ctx >= 1"),
        ({"method.outlier_vocab": "klingon"}, "method.outlier_vocab"),
        ({"method.resample_every": "hour"}, "method.resample_every"),
        ({"prompt.class_specific": True, "method.lam": 8.0}, "class-specific context"),
        ({"data.template": "a photo"}, "exactly one '{}'"),
    ],
)
def test_out_of_range_values_are_named(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", "\\(").replace(")", "\\)")):
        TrialConfig().with_overrides(override)
