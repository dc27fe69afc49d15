"""Ray Tune + Optuna: the sweep's scheduling, search and resume.

Trainables and the cache fill are named here by thin wrappers that import the data plane
only inside the Ray worker, so the driver never loads torch.
"""

from __future__ import annotations

import itertools
import logging
import os
from typing import Any

from orchestrator.spec import Spec
from orchestrator.storage import SweepPaths
from workers.errors import UserError
from workers.messages import TrialRequest

log = logging.getLogger(__name__)


def train(config: dict[str, Any]) -> None:
    from workers.trainable import train_trial

    train_trial(config)


def fill(requests: list[TrialRequest]) -> int:
    from workers.trainable import fill_cache

    return fill_cache(requests)


def cache_fill_requests(spec: Spec) -> list[TrialRequest]:
    """One request per distinct episode (seed x vocabulary) the sweep can draw."""
    varying: dict[str, list] = {}
    for key in ("train.seed", "method.outlier_vocab"):
        dim = spec.sweep.space.get(key)
        if dim is not None and dim.kind == "choices":
            varying[key] = list(dim.choices)
    for point in spec.sweep.search.points_to_evaluate:
        for key in varying:
            if key in point.values and point.values[key] not in varying[key]:
                varying[key].append(point.values[key])
    return [
        TrialRequest(spec.trial, dict(zip(varying, combo, strict=True)))
        for combo in itertools.product(*varying.values())
    ]


def build_tuner(spec: Spec, paths: SweepPaths, callbacks: list, *, resume: bool):
    from ray import tune
    from ray.tune import RunConfig, TuneConfig, Tuner
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import ConcurrencyLimiter

    from orchestrator.search import SweepSearch

    search = spec.sweep.search
    trainable = tune.with_resources(
        train, {"cpu": spec.sweep.resources.cpu, "gpu": spec.sweep.resources.gpu}
    )
    if resume:
        if not Tuner.can_restore(paths.experiment):
            raise UserError(
                f"--resume: nothing to resume at {paths.experiment}; start the sweep "
                "without --resume"
            )
        return Tuner.restore(
            paths.experiment, trainable=trainable, resume_unfinished=True, resume_errored=True
        )
    scheduler = None
    if search.scheduler == "asha":  # ranks on one metric; its stopped trials reach Optuna pruned
        asha = search.asha
        scheduler = ASHAScheduler(
            time_attr="training_iteration",
            metric=asha.metric,
            mode=asha.mode,
            max_t=1000,
            grace_period=asha.grace_period,
            reduction_factor=asha.reduction_factor,
        )
    return Tuner(
        trainable,
        param_space=TrialRequest(spec.trial).to_ray(),  # the searcher adds the overrides
        tune_config=TuneConfig(
            search_alg=ConcurrencyLimiter(
                SweepSearch.from_spec(spec), max_concurrent=search.max_concurrent
            ),
            scheduler=scheduler,
            num_samples=search.num_trials,
        ),
        run_config=RunConfig(
            name=paths.name,
            storage_path=paths.storage,
            callbacks=[*callbacks, JsonLoggerCallback(), CSVLoggerCallback()],
            failure_config=tune.FailureConfig(max_failures=search.max_failures),
            verbose=0,
        ),
    )


def ray_init(address: str | None = None) -> None:
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # save the experiment state after every event, so a killed driver's resume reruns as
    # little as possible (the state is a few kB per trial)
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "0")
    # Tune's default TensorBoard logger imports torch into the driver (1.5 s, ~300 MB);
    # build_tuner adds the JSON and CSV loggers that the result analysis reads
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=True,
            logging_level=logging.WARNING,
        )
    except (ConnectionError, RuntimeError) as exc:
        raise UserError(
            f"cannot connect to Ray at {address or 'a new local instance'}: {exc}"
        ) from None
