"""The papers' protocol on real Ray and a real MLflow store: a configuration is scored over
cells (datasets x seeds), run in parallel bundles, nested in MLflow under its configuration."""

import os
import shutil
import statistics

import pytest

from tests.helpers import ROOT, assert_one_line_error, run_orch
from tests.integration.test_sweep import TINY, cells_of, children, client_for
from workers.datasets import read_split
from workers.paths import default_data_root

SPEC = str(ROOT / "search_spaces" / "cocoa.yaml")
CPUS = os.cpu_count()  # what a local Ray cluster offers
MINI_CLASSES = 6  # a second, small dataset: 6 toy-world classes in an image-folder layout


def data_root(tmp_path):
    """A data root with the toy world and a second dataset, ``folder:mini``."""
    root = tmp_path / "data"
    root.mkdir()
    toyworld = default_data_root() / "toyworld"
    read_split(default_data_root(), "toyworld")  # generated if missing
    (root / "toyworld").symlink_to(toyworld, target_is_directory=True)
    splits = read_split(root, "toyworld")
    for split, per_class in (("train", 4), ("val", 2), ("test", 4)):
        counts: dict[int, int] = {}
        for item in splits[split]:
            if item.label >= MINI_CLASSES or counts.get(item.label, 0) >= per_class:
                continue
            counts[item.label] = counts.get(item.label, 0) + 1
            folder = root / "mini" / split / item.classname.replace(" ", "_")
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(item.path, folder / item.path.name)
    return root


def protocol_args(root, parallel=2):
    return [
        *TINY,
        "--set",
        f"data.root={root}",
        "--set",
        "protocol.seeds=[1, 2]",
        "--set",
        "protocol.datasets=[toyworld, 'folder:mini']",
        "--set",
        f"protocol.parallel_cells={parallel}",
    ]


@pytest.mark.slow
def test_configuration_runs_hold_the_mean_of_their_nested_cells(tmp_path):
    root = data_root(tmp_path)
    result = run_orch(
        "sweep",
        SPEC,
        *protocol_args(root),
        "--set",
        "search.num_trials=2",
        "--set",
        "search.max_concurrent=1",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    client = client_for(tmp_path)
    _, configs = children(client)
    assert len(configs) == 2
    for config in configs:
        assert config.info.status == "FINISHED"
        cells = cells_of(client, config)
        tags = sorted((c.data.tags["dataset"], c.data.tags["seed"]) for c in cells)
        assert tags == [
            ("folder:mini", "1"),
            ("folder:mini", "2"),
            ("toyworld", "1"),
            ("toyworld", "2"),
        ]
        assert {c.info.status for c in cells} == {"FINISHED"}
        metrics = config.data.metrics
        for name in ("hm", "ece", "test_hm", "test_ece"):
            values = [c.data.metrics[name] for c in cells]
            assert metrics[name] == pytest.approx(statistics.fmean(values), abs=1e-6), name
            # ± is over seeds of the dataset-averaged figure, never over the 4 cells
            per_seed = [
                statistics.fmean(c.data.metrics[name] for c in cells if c.data.tags["seed"] == s)
                for s in ("1", "2")
            ]
            assert metrics[f"{name}_std"] == pytest.approx(statistics.stdev(per_seed), abs=1e-6)
        for dataset in ("toyworld", "folder:mini"):
            values = [c.data.metrics["hm"] for c in cells if c.data.tags["dataset"] == dataset]
            assert metrics[f"hm/{dataset}"] == pytest.approx(statistics.fmean(values), abs=1e-6)
        # each cell logs its own per-epoch history, one point an epoch: coop's 2 epochs, the
        # zero-shot point's one evaluation
        epochs = {"coop": [1, 2], "zero_shot": [0]}[config.data.tags["point"]]
        for cell in cells:
            steps = [m.step for m in client.get_metric_history(cell.info.run_id, "hm")]
            assert sorted(steps) == epochs, (config.data.tags["point"], steps)
        assert config.data.params["protocol.cells"] == "4"
        assert "data.dataset" not in config.data.params and "train.seed" not in config.data.params
    report = run_orch("report", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "mean over 2 datasets x 2 seeds" in report.stdout, report.stdout


def test_protocol_bad_input_starts_nothing(tmp_path):
    root = data_root(tmp_path)
    cases = [
        (["--set", "protocol.seeds=[]"], ["protocol.seeds", "empty"]),
        (["--set", "protocol.datasets=[]"], ["protocol.datasets", "empty"]),
        (
            ["--set", "protocol.seeds=[1, 2]", "--set", "space.train.seed.choices=[1, 2]"],
            ["train.seed", "protocol.seeds", "lucky"],
        ),
        (
            ["--set", f"data.root={root}", "--set", "protocol.datasets=[toyworld, 'folder:nope']"],
            ["protocol.datasets", "nope"],
        ),
        # one cell bigger than any node; three cells at once bigger than the cluster
        (["--set", f"resources.cpu={4 * CPUS}"], ["resources", "no node"]),
        (
            [
                "--set",
                "protocol.seeds=[1, 2, 3]",
                "--set",
                "protocol.parallel_cells=3",
                "--set",
                f"resources.cpu={CPUS / 2}",
            ],
            ["protocol.parallel_cells", "3 cells at once"],
        ),
    ]
    for args, needles in cases:
        result = run_orch("sweep", SPEC, *args, cwd=tmp_path)
        assert_one_line_error(result, *needles)
        assert not (tmp_path / "orch_runs").exists() and not (tmp_path / "mlflow.db").exists()
