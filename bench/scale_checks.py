"""What ``bench/scale.py`` replays and how it judges what a sweep left behind.

A synthetic table of the cocoa space scored over 11 datasets x 3 seeds, the sweep's
overrides, and the integrity count: every configuration once, every cell once, none left
RUNNING, nothing duplicated, the Optuna study and MLflow agreeing trial for trial.
``tests/integration/test_scale.py`` runs the same count on a small N in CI.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from orchestrator.search.sampling import SpaceSampler
from orchestrator.spec.load import Spec, load_spec
from orchestrator.spec.space import planned_epochs
from workers.table import RecordedConfiguration, RecordedReport, write_table

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "search_spaces" / "cocoa.yaml"
# the papers' 11 datasets (CoOp's names) x 3 seeds: a replay reads no data, only names
DATASETS = ["imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers",
            "food101", "fgvc_aircraft", "sun397", "dtd", "eurosat", "ucf101"]  # fmt: skip
SEEDS = [1, 2, 3]
FINAL_SHARE = 0.2  # the final report (the test evaluation) takes this share of an epoch


def cell_overrides(datasets=DATASETS, seeds=SEEDS) -> list[str]:
    return ["--set", f"protocol.datasets=[{','.join(datasets)}]",
            "--set", f"protocol.seeds=[{','.join(map(str, seeds))}]"]  # fmt: skip


def ray_overrides(n: int, slots: int, experiment: str, cells: str = "final") -> list[str]:
    """The sweep: ``n`` configurations, ``slots`` at once, ASHA, over 33 cells, the cell
    runs written as ``cells`` says (``tracking.cell_metrics``)."""
    return [*cell_overrides(), "--set", f"search.num_trials={n}",
            "--set", f"tracking.cell_metrics={cells}",
            "--set", f"search.max_concurrent={slots}", "--set", "search.scheduler=asha",
            "--set", "search.sampler=random", "--set", f"tracking.experiment={experiment}",
            "--set", "search.max_failures=2"]  # fmt: skip


def scale_spec() -> Spec:
    from orchestrator.spec.load import parse_overrides

    pairs = cell_overrides()[1::2]
    return load_spec(SPEC, parse_overrides(pairs))


def _cell_metrics(quality: float, calibration: float, rng: random.Random, test: bool) -> dict:
    base = min(99.0, quality + 8 + rng.gauss(0, 1.5))
    new = max(1.0, quality - 6 + rng.gauss(0, 1.5))
    ece_base, ece_new = abs(calibration + rng.gauss(0, 0.8)), abs(calibration + rng.gauss(1, 0.8))
    out = {"base_acc": base, "new_acc": new, "hm": 2 * base * new / (base + new),
           "ece_base": ece_base, "ece_new": ece_new, "ece": (ece_base + ece_new) / 2}  # fmt: skip
    return {f"test_{k}": v for k, v in out.items()} if test else out


def _reports(overrides: dict, spec: Spec, epoch_seconds: float, rng: random.Random):
    """Per-epoch reports of one configuration over the 33 cells, then its final report."""
    flat = spec.trial.with_overrides(overrides).flat()
    epochs = max(planned_epochs(flat), 0)
    # a smooth landscape: w and lambda help up to a point, a high lr hurts late epochs
    w, lam, lr = (float(flat[k]) for k in ("method.w", "method.lam", "train.lr"))
    ceiling = 70 + 3 * math.exp(-((w - 4) ** 2) / 8) + 2 * math.exp(-((lam - 6) ** 2) / 20)
    reports = []
    for epoch in range(1, epochs + 1):
        quality = ceiling - 6 * math.exp(-epoch / 2) - 400 * lr * epoch / max(epochs, 1)
        calibration = 6 + 4 * math.exp(-epoch / 3) + 0.2 * w
        reports.append(_report(epoch, quality, calibration, rng, epoch_seconds, final=False))
    last = reports[-1].metrics if reports else {}
    quality = last.get("hm", ceiling - 6)
    final = _report(epochs, quality, 9.0 if not reports else last["ece"], rng,
                    epoch_seconds * FINAL_SHARE, final=True)  # fmt: skip
    return (*reports, final)


def _report(epoch, quality, calibration, rng, seconds, *, final: bool) -> RecordedReport:
    cells = []
    for dataset in DATASETS:
        offset = DATASETS.index(dataset) % 7 - 3  # datasets differ, as the papers' do
        for seed in SEEDS:
            metrics = _cell_metrics(quality + offset, calibration, rng, test=False)
            if final:
                metrics |= _cell_metrics(quality + offset, calibration, rng, test=True)
            cells.append({"dataset": dataset, "seed": seed, "metrics": metrics, "reliability": []})
    keys = cells[0]["metrics"]
    metrics = {k: sum(c["metrics"][k] for c in cells) / len(cells) for k in keys}
    metrics["epoch"] = float(epoch)
    if final:
        metrics["final"] = 1.0
    return RecordedReport(seconds=seconds, metrics=metrics, cells=tuple(cells))


def synthetic_table(path: Path, n: int, epoch_seconds: float, *, seed: int = 0) -> Path:
    """``n`` random configurations of the cocoa space and its named points, 33 cells each."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = scale_spec()
    rng = random.Random(seed)
    define = SpaceSampler(spec)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    paths = {name: path for path, name in spec.space.names.items()}
    configurations = []
    for point in spec.sweep.search.points_to_evaluate:
        reports = _reports(dict(point.values), spec, epoch_seconds, rng)
        configurations.append(RecordedConfiguration(dict(point.values), point.name, point.name,
                                                    reports))  # fmt: skip
    for i in range(n):
        trial = study.ask()
        define(trial)
        overrides = {paths[name]: value for name, value in trial.params.items()}
        if i < 2:  # the first two at the ranges' ends: the table covers the space it replays
            for key, dim in spec.space.items():
                if key in overrides and dim.kind == "range":
                    overrides[key] = type(overrides[key])(dim.low if i == 0 else dim.high)
        reports = _reports(overrides, spec, epoch_seconds, rng)
        configurations.append(RecordedConfiguration(overrides, None, f"synthetic{i}", reports))
    return write_table(path, configurations, trial=spec.trial.to_dict(),
                       protocol=spec.protocol.to_dict(), source="bench/scale.py")  # fmt: skip


@dataclass(frozen=True)
class Integrity:
    configurations: int  # distinct configurations in MLflow
    cells: int  # distinct cell runs over all of them
    running: int  # runs left RUNNING
    lost: int  # configurations or cells missing
    duplicated: int  # a configuration, or a configuration's cell, logged twice
    optuna_agrees: bool  # the study's trials are MLflow's configurations, number for number

    def __str__(self) -> str:
        agrees = "agrees" if self.optuna_agrees else "DISAGREES"
        return (f"{self.configurations} configurations, {self.cells} cells, running "
                f"{self.running}, lost {self.lost}, duplicated {self.duplicated}, Optuna "
                f"{agrees}")  # fmt: skip


def _all_runs(client, experiment_id: str) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], max_results=5000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def experiment_id(client, experiment: str) -> str:
    return client.get_experiment_by_name(experiment).experiment_id


def configuration_runs(client, experiment: str) -> list:
    runs = _all_runs(client, experiment_id(client, experiment))
    sweeps = {r.info.run_id for r in runs if "mlflow.parentRunId" not in r.data.tags}
    return [r for r in runs if r.data.tags.get("mlflow.parentRunId") in sweeps]


def _cell_metric_points(client, holders: dict[str, str], backend: str | None) -> Counter:
    """(configuration run, cell) -> points of its ``cells/<cell>/hm`` on the configuration's
    one cells run (``holders``: cells run -> configuration run; one point each, unless written
    twice): through the database at ``backend`` in one query, else run by run."""
    if backend is None:
        return Counter({(config, key[len("cells/") : -len("/hm")]): len(
            client.get_metric_history(run, key))
            for run, config in holders.items() for key in client.get_run(run).data.metrics
            if key.startswith("cells/") and key.endswith("/hm")})  # fmt: skip
    from sqlalchemy import create_engine, text

    engine = create_engine(backend)
    try:
        with engine.connect() as db:
            rows = db.execute(text("select run_uuid, key, count(*) from metrics where key like "
                                   "'cells/%/hm' group by run_uuid, key")).all()  # fmt: skip
    finally:
        engine.dispose()
    return Counter({(holders[run], key[len("cells/") : -len("/hm")]): count
                    for run, key, count in rows if run in holders})  # fmt: skip


def integrity(
    client, experiment: str, journal: Path, n: int, cells: int = 33, backend: str | None = None
) -> Integrity:
    """Count what a finished sweep of ``n`` configurations of ``cells`` cells left: cells are
    runs, or (``tracking.cell_metrics: one_run``) metrics of their configuration's one cells
    run, counted in the database at ``backend`` when given."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    runs = _all_runs(client, experiment_id(client, experiment))
    sweeps = {r.info.run_id for r in runs if "mlflow.parentRunId" not in r.data.tags}
    configs = [r for r in runs if r.data.tags.get("mlflow.parentRunId") in sweeps]
    config_ids = {r.info.run_id for r in configs}
    under = [r for r in runs if r.data.tags.get("mlflow.parentRunId") in config_ids]
    cell_runs = [r for r in under if "orch.cells" not in r.data.tags]
    holders = {r.info.run_id: r.data.tags["mlflow.parentRunId"] for r in under
               if "orch.cells" in r.data.tags}  # fmt: skip
    # a configuration with two cells runs duplicated them
    holder_count = Counter(holders.values())
    trial_ids = Counter(r.data.tags.get("ray_trial_id") for r in configs)
    cell_keys = Counter((r.data.tags["mlflow.parentRunId"], r.data.tags.get("orch.cell"))
                        for r in cell_runs)  # fmt: skip
    # tracking.cell_metrics one_run: a cell is its configuration's cells run's cells/<cell>/hm
    # (a metric logged twice at its step would show as two points of its history)
    cell_keys.update(_cell_metric_points(client, holders, backend))
    duplicated = sum(c - 1 for c in trial_ids.values()) + sum(c - 1 for c in cell_keys.values())
    duplicated += sum(c - 1 for c in holder_count.values())
    per_config = Counter(parent for parent, _ in cell_keys)
    lost = max(0, n - len(trial_ids)) + sum(max(0, cells - per_config[i]) for i in config_ids)
    running = sum(r.info.status == "RUNNING" for r in runs)
    storage = JournalStorage(JournalFileBackend(str(journal)))
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    # a trial a killed driver asked for but never started ends FAIL on resume, with no run:
    # every other trial is one configuration in MLflow, and none is left running
    numbers = sorted(t.number for t in study.trials if t.state != TrialState.FAIL)
    logged = sorted(int(r.data.tags["orch.trial_number"]) for r in configs
                    if "orch.trial_number" in r.data.tags)  # fmt: skip
    unfinished = [t for t in study.trials if not t.state.is_finished()]
    agrees = numbers == logged and not unfinished
    return Integrity(len(trial_ids), len(cell_keys), running, lost, duplicated, agrees)


def database_rows(backend: str) -> int:
    """Rows the tracking store holds: runs, tags, params and every metric point (the
    bench's store holds this sweep only)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(backend)
    try:
        with engine.connect() as db:
            tables = ("runs", "tags", "params", "metrics")
            return sum(db.execute(text(f"select count(*) from {t}")).scalar() for t in tables)
    finally:
        engine.dispose()


def ideal_seconds(client, experiment: str, backend: str, epoch_seconds: float) -> float:
    """The recorded seconds the sweep's trials served: each configuration's epochs (its
    last step of ``hm``), and its final report's share where it finished."""
    from sqlalchemy import create_engine, text

    configs = {r.info.run_id: "test_hm" in r.data.metrics
               for r in configuration_runs(client, experiment)}  # fmt: skip
    engine = create_engine(backend)
    try:
        with engine.connect() as db:
            steps = db.execute(
                text("select run_uuid, max(step) from metrics where key = 'hm' group by run_uuid")
            ).all()
    finally:
        engine.dispose()
    total = 0.0
    for run_id, step in steps:
        if run_id in configs:
            total += epoch_seconds * (step + (FINAL_SHARE if configs[run_id] else 0.0))
    return total
