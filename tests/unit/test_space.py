import optuna
import pytest

from orchestrator.search.sampling import SpaceSampler, grid, suggest
from orchestrator.spec.load import load_spec
from orchestrator.spec.schema import Dimension
from orchestrator.spec.space import SearchSpace, planned_epochs, short_names
from tests.unit.test_spec import COCOA
from workers.errors import ConfigError

SPACE = {
    "method.w": Dimension(low=0, high=10),
    "method.mixture": Dimension(choices=[True, False]),
    "method.d": Dimension(low=0, high=2, when={"method.mixture": True}),
    "method.outlier_vocab": Dimension(choices=["random_words", "wordnet_nouns"]),
    "train.lr": Dimension(low=1e-4, high=1e-2, log=True),
    "train.epochs": Dimension(low=1, high=5, **{"int": True}),
    "data.shots": Dimension(value=4),
}


def test_fixed_trial_replays_values_and_skips_inactive_dimensions():
    values = {
        "method.w": 2.5,
        "method.mixture": False,
        "method.outlier_vocab": "wordnet_nouns",
        "train.lr": 0.001,
        "train.epochs": 3,
    }
    chosen = suggest(optuna.trial.FixedTrial(values), SPACE, {})
    assert chosen == {**values, "data.shots": 4}
    assert "method.d" not in chosen  # d only exists when the mixture is on


def test_conditional_dimension_is_sampled_when_its_condition_holds():
    values = {
        "method.w": 0.0,
        "method.mixture": True,
        "method.d": 1.5,
        "method.outlier_vocab": "random_words",
        "train.lr": 0.01,
        "train.epochs": 1,
    }
    assert suggest(optuna.trial.FixedTrial(values), SPACE, {})["method.d"] == 1.5


def test_condition_can_read_fixed_spec_values():
    space = {"method.d": Dimension(low=0, high=2, when={"method.mixture": True})}
    assert suggest(optuna.trial.FixedTrial({"method.d": 0.3}), space, {"method.mixture": True}) == {
        "method.d": 0.3
    }
    assert suggest(optuna.trial.FixedTrial({}), space, {"method.mixture": False}) == {}


def test_out_of_range_fixed_value_is_flagged_by_optuna():
    with pytest.warns(UserWarning, match="out of the range"):
        suggest(
            optuna.trial.FixedTrial({"method.w": 11.0}), {"method.w": Dimension(low=0, high=10)}, {}
        )


def test_cocoa_space_samples_within_its_dimensions():
    spec = load_spec(COCOA)
    sampler = SpaceSampler(spec)
    study = optuna.create_study(
        directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=0)
    )
    space = spec.sweep.space
    paths = {name: path for path, name in short_names(space).items()}
    for _ in range(20):
        trial = study.ask()
        sampler(trial)
        values = {paths[name]: value for name, value in trial.params.items()}
        cfg = spec.trial.with_overrides(values)  # raises on an invalid trial
        for key, dim in space.items():
            value = cfg.flat()[key]
            if dim.kind == "range":
                assert dim.low <= value <= dim.high, (key, value)
            elif dim.kind == "choices":
                assert value in dim.choices, (key, value)
        # d is conditional on the mixture, which the cocoa spec fixes on
        assert ("d" in trial.params) == cfg.method.mixture
        study.tell(trial, [1.0, 1.0])


def test_grid_needs_steps():
    assert grid({"a": Dimension(low=0, high=1, step=0.5), "b": Dimension(choices=["x"])}) == {
        "a": [0.0, 0.5, 1.0],
        "b": ["x"],
    }
    with pytest.raises(ConfigError, match="grid sampler needs choices or a step"):
        grid({"a": Dimension(low=0, high=1)})


def test_every_searched_dimension_gets_a_short_name_unless_two_would_share_it():
    assert short_names(["method.w", "method.lam", "train.lr", "method.resample_every"]) == {
        "method.w": "w",
        "method.lam": "lambda",
        "train.lr": "lr",
        "method.resample_every": "resample_every",
    }
    # two 'lr's: both keep their paths, so no name stands for two settings
    assert short_names(["train.lr", "train.weight_lr", "other.lr"]) == {
        "train.lr": "train.lr",
        "train.weight_lr": "weight_lr",
        "other.lr": "other.lr",
    }


def test_a_configuration_that_trains_nothing_samples_no_dimension():
    fixed = {"train.epochs": 0, "train.weight_epochs": 3, "method.mixture": False}
    assert suggest(optuna.trial.FixedTrial({"method.w": 1.0}), SPACE, fixed) == {}
    # with a two-stage mixture the weights still train: its dimensions are sampled
    two_stage = {**fixed, "method.mixture": True, "method.optimization": "two_stage"}
    values = {"method.w": 1.0, "method.outlier_vocab": "random_words", "train.lr": 0.001}
    assert suggest(optuna.trial.FixedTrial(values), {"method.w": SPACE["method.w"]}, two_stage)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"method.mixture": False},
        {"method.mixture": True, "method.optimization": "one_stage"},
        {"train.epochs": 0, "method.mixture": False},
        {"train.epochs": 0, "method.mixture": True, "train.weight_epochs": 2},
    ],
)
def test_planned_epochs_mirror_the_data_planes_count(overrides):
    from workers.trial import total_epochs  # the data plane's; the driver cannot import it

    cfg = load_spec(COCOA).trial.with_overrides(overrides)
    assert planned_epochs(cfg.flat()) == total_epochs(cfg)


def test_grid_keys_follow_the_names_the_trials_use():
    space = {"train.lr": Dimension(low=0.1, high=0.2, step=0.1)}
    assert grid(space, short_names(space)) == {"lr": [0.1, 0.2]}


def test_the_loaded_spec_carries_one_space_whose_names_every_reader_uses():
    import io

    from orchestrator.report.progress import ProgressView
    from orchestrator.search.sampling import SpaceSampler
    from orchestrator.tracking.records import run_name, trial_params
    from workers.messages import TrialRequest

    spec = load_spec(COCOA)
    space = spec.space
    assert list(space) == list(spec.sweep.space) and space.names == short_names(spec.sweep.space)
    assert SpaceSampler(spec).space is space  # built once, carried: not rebuilt per reader
    overrides = {"method.lam": 1.5, "method.w": 2.0}
    request = TrialRequest(spec.trial, overrides, protocol=spec.protocol)
    assert run_name(request, space, 3) == "#3 lambda=1.5 w=2"
    assert {"lambda", "w"} <= set(trial_params(request, space))
    view = ProgressView(1, space, stream=io.StringIO(), live=False)
    assert view.start("t", 3, request).settings["lambda"] == "1.5"


def test_the_space_names_colliding_paths_by_their_paths_everywhere():
    space = SearchSpace({"train.lr": Dimension(low=0.1, high=0.2), "x.lr": Dimension(value=1)})
    assert space.names == {"train.lr": "train.lr", "x.lr": "x.lr"}
    # describe (run names, progress lines) says what the space says, not a name of its own
    assert space.describe({"train.lr": 0.15, "method.w": 2.0}) == "train.lr=0.15 w=2"


def test_the_space_knows_what_a_configuration_left_unsampled():
    space = SearchSpace(SPACE)
    assert space.unsampled({"method.mixture": False, "train.epochs": 5}) == ["method.d"]
    assert space.unsampled({"method.mixture": True, "train.epochs": 5}) == []
    assert space.unsampled({"train.epochs": 0, "method.mixture": False}) == list(SPACE)
