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


def _tune_callback_base():
    from ray.tune import Callback

    return Callback


def make_callback(spec: Spec, uri: str, experiment_id: str, parent_run_id: str):
    """A Tune callback that mirrors every trial into a child run of ``parent_run_id``."""
    from mlflow.tracking import MlflowClient

    class MlflowTrials(_tune_callback_base()):
        def __init__(self) -> None:
            self.client = MlflowClient(tracking_uri=uri)
            self.by_trial: dict[str, str] = {}  # a cache: MLflow's tags are the truth
            self.frozen: set[str] = set()  # trials whose runs were already complete
            self.last: dict[str, dict] = {}

        # Tuner.restore brings back the callbacks pickled with the experiment, so their state
        # may be stale: the client is rebuilt and run ids are looked up again in MLflow.
        def __getstate__(self) -> dict:
            return {}

        def __setstate__(self, state: dict) -> None:
            self.__init__()

        def children(self, trial_id: str | None = None) -> dict[str, str]:
            query = f"tags.mlflow.parentRunId = '{parent_run_id}'"
            if trial_id:
                query += f" and tags.{TRIAL_ID_TAG} = '{trial_id}'"
            found = self.client.search_runs([experiment_id], filter_string=query, max_results=10000)
            return {
                r.data.tags[TRIAL_ID_TAG]: r.info.run_id
                for r in found
                if TRIAL_ID_TAG in r.data.tags
            }

        def run_id(self, trial) -> str:
            run_id = self.by_trial.get(trial.trial_id)
            if run_id is None:
                run_id = self.children(trial.trial_id).get(trial.trial_id)
                if run_id is not None:  # resumed: the run exists, reuse it
                    self.by_trial[trial.trial_id] = run_id
                    if self.client.get_run(run_id).info.status == "FINISHED":
                        # finished after the killed driver's last state save: Tune reruns it,
                        # MLflow keeps the first, complete record
                        self.frozen.add(trial.trial_id)
                    else:
                        self.client.set_terminated(run_id, status="RUNNING")
                    return run_id
                overrides = dict(trial.config)
                run = self.client.create_run(
                    experiment_id,
                    run_name=run_name(overrides),
                    tags={
                        "mlflow.parentRunId": parent_run_id,
                        TRIAL_ID_TAG: trial.trial_id,
                        **({"point": overrides["orch_point"]} if "orch_point" in overrides else {}),
                    },
                )
                run_id = self.by_trial[trial.trial_id] = run.info.run_id
                for key, value in trial_params(spec, overrides).items():
                    self.client.log_param(run_id, key, value)
            return run_id

        def on_trial_start(self, iteration, trials, trial, **info):
            self.run_id(trial)

        def on_trial_result(self, iteration, trials, trial, result, **info):
            run_id = self.run_id(trial)
            if trial.trial_id in self.frozen:
                return
            self.last[trial.trial_id] = result
            step = int(result.get("epoch", result.get("training_iteration", 0)))
            metrics = epoch_metrics(result)
            if not result.get("final"):
                metrics = {k: v for k, v in metrics.items() if not k.startswith("test_")}
            for key, value in metrics.items():
                self.client.log_metric(run_id, key, value, step=step)

        def on_trial_complete(self, iteration, trials, trial, **info):
            run_id = self.run_id(trial)
            if trial.trial_id in self.frozen:
                return
            result = self.last.get(trial.trial_id) or trial.last_result or {}
            if FINAL_KEY not in result:
                self.client.set_tag(run_id, "pruned", "true")
                self.client.set_terminated(run_id, status="KILLED")
                return
            self.client.set_tag(run_id, "node", result.get("node", "unknown"))
            self._artifacts(run_id, trial, result)
            self.client.set_terminated(run_id, status="FINISHED")

        def on_trial_error(self, iteration, trials, trial, **info):
            run_id = self.run_id(trial)
            if trial.trial_id in self.frozen:
                return
            text = "unknown error"
            if trial.error_file and Path(trial.error_file).is_file():
                text = Path(trial.error_file).read_text()[-4000:]
            self.client.set_tag(run_id, "error", text)
            self.client.set_terminated(run_id, status="FAILED")

        def on_experiment_end(self, trials, **info):
            """A trial started just before a killed driver's last state save is unknown to the
            restored experiment (Tune starts a fresh one instead): drop its orphaned run."""
            known = {t.trial_id for t in trials}
            for trial_id, run_id in self.children().items():
                if trial_id not in known:
                    self.client.delete_run(run_id)
                    self.by_trial.pop(trial_id, None)

        def _artifacts(self, run_id: str, trial, result: dict) -> None:
            with tempfile.TemporaryDirectory() as folder:
                out = Path(folder)
                cfg = TrialConfig.from_dict(spec.trial.to_dict()).with_overrides(
                    {k: v for k, v in trial.config.items() if "." in k}
                )
                (out / "trial_config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
                for subset in ("base", "new"):
                    bins = result.get(f"reliability_{subset}")
                    if bins:
                        reliability_png(
                            bins, f"{subset} classes (test)", out / f"reliability_{subset}.png"
                        )
                checkpoint = trial.checkpoint
                if checkpoint is not None:
                    with checkpoint.as_directory() as ckpt:
                        if (Path(ckpt) / CHECKPOINT).is_file():
                            (out / "prompt_state.pt").write_bytes(
                                (Path(ckpt) / CHECKPOINT).read_bytes()
                            )
                self.client.log_artifacts(run_id, str(out))

    return MlflowTrials()
