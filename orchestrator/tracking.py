"""MLflow, written from the driver only: one parent run per sweep, one child run per trial.

A Ray Tune callback turns trial events into MLflow calls. Child runs carry the trial's Ray
id as a tag, so a resumed sweep finds and finishes the runs it already made instead of
writing a second copy.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from orchestrator.space import flatten
from orchestrator.spec import Spec
from workers.config import CHECKPOINT, FINAL_KEY, REPORTED_METRICS, TrialConfig
from workers.errors import UserError

log = logging.getLogger(__name__)

PARAM_NAMES = {
    "method.w": "w",
    "method.d": "d",
    "method.lam": "lambda",
    "method.outlier_vocab": "outlier_vocab",
}
TRIAL_ID_TAG = "ray_trial_id"


class TrackingError(UserError):
    """An MLflow tracking URI that cannot be used."""


def resolve_uri(uri: str | None) -> str:
    """The given URI, or MLflow's embedded default: a SQLite file in the working directory."""
    return uri or f"sqlite:///{Path.cwd().resolve() / 'mlflow.db'}"


def check_reachable(uri: str) -> None:
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5) as answer:
                if answer.status != 200:
                    raise TrackingError(f"MLflow server {uri} answered {answer.status} on /health")
        except (urllib.error.URLError, OSError) as exc:
            raise TrackingError(
                f"MLflow tracking server {uri} is unreachable ({getattr(exc, 'reason', exc)}): "
                "start it (`mlflow server --host 127.0.0.1 --port 5000`) or fix tracking.uri"
            ) from None
    elif uri.startswith("sqlite:///"):
        folder = Path(uri[len("sqlite:///") :]).parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise TrackingError(
                f"tracking.uri {uri}: folder {folder} does not exist or is not writable"
            )
    elif uri.startswith("file:") or "://" not in uri:
        raise TrackingError(
            f"tracking.uri {uri}: MLflow 3 refuses plain file stores; use sqlite:///PATH/mlflow.db "
            "or an http:// tracking server"
        )


def param_name(path: str) -> str:
    return PARAM_NAMES.get(path, path)


def trial_params(spec: Spec, overrides: dict[str, Any]) -> dict[str, Any]:
    """Every fixed and searched trial field under its stable name."""
    cfg = spec.trial.with_overrides({k: v for k, v in overrides.items() if "." in k})
    return {param_name(k): v for k, v in flatten(cfg.to_dict()).items()}


def run_name(overrides: dict[str, Any]) -> str:
    shown = []
    for key, value in overrides.items():
        if "." not in key:
            continue
        text = f"{value:.3g}" if isinstance(value, float) else str(value)
        shown.append(f"{param_name(key).split('.')[-1]}={text}")
    point = overrides.get("orch_point")
    return (f"{point}: " if point else "") + (" ".join(shown) or "fixed")


def epoch_metrics(result: dict[str, Any]) -> dict[str, float]:
    keep = {}
    for key, value in result.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        base = key[len("test_") :] if key.startswith("test_") else key
        if (
            base in REPORTED_METRICS
            or key.startswith(("loss", "pi_"))
            or key == "pool_new_class_overlap"
        ):
            keep[key] = float(value)
    return keep


def reliability_png(bins: dict[str, list[float]], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = bins["edges"]
    centers = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
    width = edges[1] - edges[0]
    fig, ax = plt.subplots(figsize=(4, 4))
    filled = [c > 0 for c in bins["counts"]]
    ax.bar(
        [c for c, f in zip(centers, filled, strict=True) if f],
        [a for a, f in zip(bins["accuracy"], filled, strict=True) if f],
        width=width * 0.9,
        color="tab:blue",
        edgecolor="black",
        label="accuracy",
    )
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    ax.set(xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1), title=title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _reported(result: dict[str, Any], key: str, default: Any) -> Any:
    """``result[key]``, where a replayed history marks keys not reported at a step by NaN."""
    value = result.get(key)
    return default if value is None or value != value else value


def tracking_errors() -> tuple[type[BaseException], ...]:
    """What a lost tracking server raises: MLflow's own error once its retries are spent,
    or the transport's."""
    import requests
    from mlflow.exceptions import MlflowException

    return (MlflowException, requests.exceptions.RequestException, OSError)


class TrialRuns:
    """The child runs of one sweep, keyed by Ray trial id; MLflow's tags are the truth."""

    def __init__(self, spec: Spec, uri: str, experiment_id: str, parent_run_id: str) -> None:
        from mlflow.tracking import MlflowClient

        self.spec, self.uri = spec, uri
        self.experiment_id, self.parent_run_id = experiment_id, parent_run_id
        self.client = MlflowClient(tracking_uri=uri)

    def children(self, trial_id: str | None = None) -> dict:
        """Trial id -> MLflow run, for every child run (or the one of ``trial_id``)."""
        query = f"tags.mlflow.parentRunId = '{self.parent_run_id}'"
        if trial_id:
            query += f" and tags.{TRIAL_ID_TAG} = '{trial_id}'"
        found = self.client.search_runs(
            [self.experiment_id], filter_string=query, max_results=10000
        )
        return {r.data.tags[TRIAL_ID_TAG]: r for r in found if TRIAL_ID_TAG in r.data.tags}

    def create(self, trial_id: str, overrides: dict[str, Any]) -> str:
        run = self.client.create_run(
            self.experiment_id,
            run_name=run_name(overrides),
            tags={
                "mlflow.parentRunId": self.parent_run_id,
                TRIAL_ID_TAG: trial_id,
                **({"point": overrides["orch_point"]} if "orch_point" in overrides else {}),
            },
        )
        for key, value in trial_params(self.spec, overrides).items():
            self.client.log_param(run.info.run_id, key, value)
        return run.info.run_id

    def log_result(self, run_id: str, result: dict[str, Any], skip: set | None = None) -> None:
        """One reported result as metrics at its epoch; ``skip`` holds (key, step) already
        logged, so a replay never writes a point twice."""
        step = int(_reported(result, "epoch", _reported(result, "training_iteration", 0)))
        metrics = epoch_metrics(result)
        if not _reported(result, "final", 0):
            metrics = {k: v for k, v in metrics.items() if not k.startswith("test_")}
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [
            Metric(key, value, now, step)
            for key, value in metrics.items()
            if value == value and (key, step) not in (skip or ())
        ]
        if batch:  # one request per result, not one per metric
            self.client.log_batch(run_id, metrics=batch)

    def logged_points(self, run_id: str) -> set[tuple[str, int]]:
        keys = self.client.get_run(run_id).data.metrics
        return {(key, m.step) for key in keys for m in self.client.get_metric_history(run_id, key)}

    def finish(self, run_id: str, overrides: dict, result: dict, checkpoint) -> None:
        """A completed trial: its final artifacts, or the pruned tag when ASHA stopped it."""
        if FINAL_KEY not in result:
            self.client.set_tag(run_id, "pruned", "true")
            self.client.set_terminated(run_id, status="KILLED")
            return
        self.client.set_tag(run_id, "node", result.get("node", "unknown"))
        self._artifacts(run_id, overrides, result, checkpoint)
        self.client.set_terminated(run_id, status="FINISHED")

    def fail(self, run_id: str, error_file: str | None) -> None:
        text = "unknown error"
        if error_file and Path(error_file).is_file():
            text = Path(error_file).read_text()[-4000:]
        self.client.set_tag(run_id, "error", text)
        self.client.set_terminated(run_id, status="FAILED")

    def _artifacts(self, run_id: str, overrides: dict, result: dict, checkpoint) -> None:
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder)
            cfg = TrialConfig.from_dict(self.spec.trial.to_dict()).with_overrides(
                {k: v for k, v in overrides.items() if "." in k}
            )
            (out / "trial_config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
            for subset in ("base", "new"):
                bins = result.get(f"reliability_{subset}")
                if bins:
                    reliability_png(
                        bins, f"{subset} classes (test)", out / f"reliability_{subset}.png"
                    )
            if checkpoint is not None:
                with checkpoint.as_directory() as ckpt:
                    if (Path(ckpt) / CHECKPOINT).is_file():
                        (out / "prompt_state.pt").write_bytes(
                            (Path(ckpt) / CHECKPOINT).read_bytes()
                        )
            self.client.log_artifacts(run_id, str(out))


def _tune_callback_base():
    from ray.tune import Callback

    return Callback


def make_callback(runs: TrialRuns):
    """A Tune callback that mirrors every trial into a child run, live.

    If the tracking server goes away, the callback says so once and stops calling it; the
    trials go on (Ray keeps their results) and ``log_missing`` writes what MLflow lacks once
    the server is back.
    """
    errors = tracking_errors()

    class MlflowTrials(_tune_callback_base()):
        def __init__(self) -> None:
            self.by_trial: dict[str, str] = {}  # a cache: MLflow's tags are the truth
            self.frozen: set[str] = set()  # trials whose runs were already complete
            self.last: dict[str, dict] = {}
            self.lost: str | None = None  # why the tracking server stopped answering

        # Tuner.restore brings back the callbacks pickled with the experiment, so their state
        # may be stale: run ids are looked up again in MLflow.
        def __getstate__(self) -> dict:
            return {}

        def __setstate__(self, state: dict) -> None:
            self.__init__()

        def _guard(self, action) -> None:
            if self.lost:
                return
            try:
                action()
            except errors as exc:
                self.lost = type(exc).__name__
                log.debug("tracking call failed", exc_info=True)
                print(
                    f"warning: MLflow at {runs.uri} stopped answering; the trials go on and "
                    "the runs it misses are logged when the sweep is resumed",
                    flush=True,
                )

        def run_id(self, trial) -> str:
            run_id = self.by_trial.get(trial.trial_id)
            if run_id is not None:
                return run_id
            found = runs.children(trial.trial_id).get(trial.trial_id)
            if found is None:
                run_id = runs.create(trial.trial_id, dict(trial.config))
            else:  # resumed: the run exists, reuse it
                run_id = found.info.run_id
                if found.info.status == "FINISHED":
                    # finished after the killed driver's last state save: Tune reruns it,
                    # MLflow keeps the first, complete record
                    self.frozen.add(trial.trial_id)
                else:
                    runs.client.set_terminated(run_id, status="RUNNING")
            self.by_trial[trial.trial_id] = run_id
            return run_id

        def on_trial_start(self, iteration, trials, trial, **info):
            self._guard(lambda: self.run_id(trial))

        def on_trial_result(self, iteration, trials, trial, result, **info):
            def log() -> None:
                run_id = self.run_id(trial)
                if trial.trial_id not in self.frozen:
                    self.last[trial.trial_id] = result
                    runs.log_result(run_id, result)

            self._guard(log)

        def on_trial_complete(self, iteration, trials, trial, **info):
            def log() -> None:
                run_id = self.run_id(trial)
                if trial.trial_id not in self.frozen:
                    result = self.last.get(trial.trial_id) or trial.last_result or {}
                    runs.finish(run_id, dict(trial.config), result, trial.checkpoint)

            self._guard(log)

        def on_trial_error(self, iteration, trials, trial, **info):
            def log() -> None:
                run_id = self.run_id(trial)
                if trial.trial_id not in self.frozen:
                    runs.fail(run_id, trial.error_file)

            self._guard(log)

        def on_experiment_end(self, trials, **info):
            """A trial started just before a killed driver's last state save is unknown to the
            restored experiment (Tune starts a fresh one instead): drop its orphaned run."""
            known = {t.trial_id for t in trials}

            def drop() -> None:
                for trial_id, run in runs.children().items():
                    if trial_id not in known:
                        runs.client.delete_run(run.info.run_id)
                        self.by_trial.pop(trial_id, None)

            self._guard(drop)

    return MlflowTrials()


def log_missing(runs: TrialRuns, experiment_path: str) -> int:
    """Write to MLflow whatever Ray holds for the sweep's trials and MLflow lacks: runs never
    created, epochs never logged, runs never finished. Returns how many runs it touched."""
    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(experiment_path)
    existing = runs.children()
    touched = 0
    for trial in analysis.trials:
        found = existing.get(trial.trial_id)
        if found is not None and found.info.status != "RUNNING":
            continue  # complete (finished, pruned or failed)
        if trial.status not in ("TERMINATED", "ERROR"):
            continue  # unfinished: an interrupted sweep, resumed later
        touched += 1
        overrides = dict(trial.config)
        run_id = found.info.run_id if found else runs.create(trial.trial_id, overrides)
        logged = runs.logged_points(run_id) if found else set()
        history = analysis.trial_dataframes.get(trial.trial_id)
        if history is not None:
            for row in history.to_dict("records"):
                runs.log_result(run_id, row, skip=logged)
        if trial.status == "ERROR":
            runs.fail(run_id, trial.error_file)
        else:
            runs.finish(run_id, overrides, trial.last_result or {}, trial.checkpoint)
    return touched
