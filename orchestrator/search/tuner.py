"""Ray Tune + Optuna: the sweep's scheduling, search and resume.

Trainables and the cache fill are named here by thin wrappers that import the data plane
only inside the Ray worker, so the driver never loads torch.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.spec.load import Spec
from orchestrator.spec.storage import SweepPaths
from workers.errors import UserError
from workers.messages import ReplayRequest, TrialRequest

if TYPE_CHECKING:
    from orchestrator.search.budget import TimeBudget

log = logging.getLogger(__name__)


def train(config: dict[str, Any]) -> None:
    from workers.trainable import train_trial

    train_trial(config)


def replay(config: dict[str, Any]) -> None:
    from workers.replay import replay_trial

    replay_trial(config)


def fill(request: TrialRequest, counter=None) -> int:
    """A fill task; ``counter``, a ``FillCounter`` actor, hears of the images it has done."""
    import ray

    from workers.trainable import fill_cache

    if counter is None:
        return fill_cache(request)
    last = []

    def report(images: int) -> None:
        last[:] = [counter.add.remote(images)]

    episodes = fill_cache(request, report)
    ray.get(last)  # an actor runs one caller's calls in order: it has heard them all
    return episodes


def planned_fill(requests: list[TrialRequest]) -> int:
    from workers.trainable import planned_fill

    return planned_fill(requests)


def cache_fill_requests(spec: Spec) -> list[TrialRequest]:
    """One request per distinct episode (cell x vocabulary) the sweep can draw; each one's
    protocol is the spec's narrowed to that one cell (its kind, targets and split kept)."""
    cells = spec.protocol.cells(spec.trial)
    varying: dict[str, list] = {
        "data.dataset": list(dict.fromkeys(c.dataset for c in cells)),
        "train.seed": list(dict.fromkeys(c.seed for c in cells)),
    }
    for key in ("train.seed", "method.outlier_vocab"):
        dim = spec.space.get(key)
        if dim is not None and dim.kind == "choices":
            varying[key] = list(dim.choices)
    for point in spec.sweep.search.points_to_evaluate:
        for key in varying:
            if key in point.values and point.values[key] not in varying[key]:
                varying[key].append(point.values[key])
    one_cell = dataclasses.replace(spec.protocol, seeds=None, datasets=None, parallel_cells=None)
    return [
        TrialRequest(spec.trial, dict(zip(varying, combo, strict=True)), protocol=one_cell)
        for combo in itertools.product(*varying.values())
    ]


def cell_bundle(spec: Spec) -> dict[str, float]:
    """The resources one cell holds while it trains."""
    resources = spec.sweep.resources
    return {"CPU": resources.cpu, **({"GPU": resources.gpu} if resources.gpu else {})}


def check_cluster_fits(spec: Spec) -> None:
    """Refuse, before anything starts, a configuration whose cells the cluster could never
    hold: one cell's bundle on no node, or its parallel bundles beyond the whole cluster."""
    import ray

    bundle = cell_bundle(spec)
    parallel = spec.protocol.parallel(spec.trial)
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    have = ", ".join("{" + ", ".join(f"{r} {n.get(r, 0):g}" for r in bundle) + "}" for n in nodes)
    asked = ", ".join(f"{r} {v:g}" for r, v in bundle.items())
    if not any(all(n.get(r, 0) >= v for r, v in bundle.items()) for n in nodes):
        raise UserError(
            f"resources: one cell asks for {{{asked}}} but no node of the Ray cluster has that "
            f"(nodes: {have}); lower resources.cpu / resources.gpu or add such a node"
        )
    for resource, value in bundle.items():
        total = sum(n.get(resource, 0) for n in nodes)
        if value * parallel > total:
            raise UserError(
                f"protocol.parallel_cells: a configuration holds {parallel} cells at once, "
                f"{value * parallel:g} {resource} in all, but the Ray cluster has {total:g} "
                f"(nodes: {have}); lower protocol.parallel_cells or resources.{resource.lower()}"
            )


def placed_trainable(spec: Spec):
    """The trainable with one bundle per cell that runs at once (the trial's own process
    trains in the first)."""
    from ray import tune

    bundles = [cell_bundle(spec)] * spec.protocol.parallel(spec.trial)
    function = replay if spec.sweep.replay.table else train
    return tune.with_resources(function, tune.PlacementGroupFactory(bundles))


def create_scheduler(spec: Spec):
    """None, Ray's ASHA on one metric, or multi-objective ASHA on the spec's objectives.
    Either's stopped trials reach Optuna as PRUNED."""
    search = spec.sweep.search
    asha = search.asha
    if search.scheduler == "asha":
        from ray.tune.schedulers import ASHAScheduler

        return ASHAScheduler(
            time_attr="training_iteration",
            metric=asha.metric,
            mode=asha.mode,
            max_t=1000,
            grace_period=asha.grace_period,
            reduction_factor=asha.reduction_factor,
        )
    if search.scheduler == "moasha":
        from orchestrator.search.moasha import MultiObjectiveAsha

        return MultiObjectiveAsha(
            spec.sweep.objectives,
            grace_period=asha.grace_period,
            reduction_factor=asha.reduction_factor,
        )
    return None


def param_space(spec: Spec) -> dict[str, Any]:
    """What every trial's Ray config starts from; the searcher adds each trial's overrides
    (and, replaying, the recorded configuration that answers them)."""
    space = TrialRequest(spec.trial, protocol=spec.protocol).to_ray()
    replay = spec.sweep.replay
    if replay.table:
        table = str(Path(replay.table).expanduser().resolve())
        space.update(ReplayRequest(table, replay.time_scale).to_ray())
    return space


def build_tuner(
    spec: Spec,
    paths: SweepPaths,
    callbacks: list,
    *,
    resume: bool,
    budget: TimeBudget | None = None,
):
    from ray import tune
    from ray.tune import RunConfig, TuneConfig, Tuner
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
    from ray.tune.search import ConcurrencyLimiter

    from orchestrator.search.searcher import SweepSearch

    search = spec.sweep.search
    trainable = placed_trainable(spec)
    if resume:
        if not Tuner.can_restore(paths.experiment):
            raise UserError(
                f"--resume: nothing to resume at {paths.experiment}; start the sweep "
                "without --resume"
            )
        return Tuner.restore(
            paths.experiment, trainable=trainable, resume_unfinished=True, resume_errored=True
        )
    return Tuner(
        trainable,
        param_space=param_space(spec),
        tune_config=TuneConfig(
            search_alg=ConcurrencyLimiter(
                SweepSearch.from_spec(spec, journal=paths.journal, study_name=paths.name),
                max_concurrent=search.max_concurrent,
            ),
            scheduler=create_scheduler(spec),
            num_samples=search.num_trials,
            # a finished trial's worker process runs the next one: imports, the frozen model,
            # cached features and word lists stay loaded (workers.model, workers.cache)
            reuse_actors=True,
        ),
        run_config=RunConfig(
            name=paths.name,
            storage_path=paths.storage,
            callbacks=[*callbacks, JsonLoggerCallback(), CSVLoggerCallback()],
            failure_config=tune.FailureConfig(max_failures=search.max_failures),
            stop=budget,
            verbose=0,
        ),
    )


STOP_REQUESTED = threading.Event()  # a SIGTERM arrived: the sweep must not count as complete


def sigterm_as_interrupt() -> None:
    """A scheduler's or container's SIGTERM stops a sweep as Ctrl-C does: running trials and
    the sweep's run end KILLED, and `--resume` continues (Ray Tune handles SIGINT itself)."""

    def stop(*_) -> None:
        STOP_REQUESTED.set()
        os.kill(os.getpid(), signal.SIGINT)

    signal.signal(signal.SIGTERM, stop)


def stopped_early(paths: SweepPaths) -> bool:
    """Whether Tune ended the sweep before every trial it made had ended: Ray Tune's own
    Ctrl-C handling stops the experiment and returns from ``fit`` without an exception."""
    from ray.tune import ExperimentAnalysis

    if STOP_REQUESTED.is_set():
        return True
    trials = ExperimentAnalysis(paths.experiment).trials
    return any(t.status not in ("TERMINATED", "ERROR") for t in trials)


def ray_shutdown() -> None:
    """Stop the local Ray instance this process started (or leave the cluster it joined)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


def ray_init(address: str | None = None) -> None:
    """Connect to the Ray cluster at ``address`` (or $RAY_ADDRESS, or one `ray start` left on
    this machine), else start a local instance that listens on 127.0.0.1 only. Token auth
    stays as Ray sets it: on by default for a new local instance."""
    import ray
    from ray._private.services import canonicalize_bootstrap_address

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # save the experiment state at most every few seconds (every loop pass cost ~8 ms, about
    # 1,700 saves in a small sweep); a killed driver's resume still leaves each trial once,
    # because MLflow's runs are matched by trial id (callbacks.py)
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "5")
    # relative paths in a spec (a file: vocabulary, a data root) mean the folder the sweep
    # started from, which is also a Ray job's working folder on every node; Tune would move
    # each trial into its own log folder, where they name nothing
    os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
    # Tune's default TensorBoard logger imports torch into the driver (1.5 s, ~300 MB);
    # build_tuner adds the JSON and CSV loggers that the result analysis reads
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    # a failed trial is one progress line and its run's error tag (the traceback is the run's
    # error.txt), not Tune's traceback on stderr; ORCH_DEBUG=1 keeps that
    debug = os.environ.get("ORCH_DEBUG") == "1"
    os.environ.setdefault("TUNE_PRINT_ALL_TRIAL_ERRORS", "1" if debug else "0")
    # token auth is on for a new local instance, as it should be; Ray's advice on how to
    # turn it off is nothing a user of orch has to act on
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
        logging.ERROR
    )
    try:
        local = canonicalize_bootstrap_address(address) is None  # Ray's own decision
        with loopback_node(local), free_agent_port(local):
            ray.init(
                address="local" if local else address,
                _node_ip_address=LOOPBACK if local else None,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=True,
                logging_level=logging.WARNING,
            )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UserError(
            f"cannot connect to Ray at {address or 'a new local instance'}: {exc}"
        ) from None
    sigterm_as_interrupt()  # ray.init installs a SIGTERM handler of its own that aborts
    if not debug:
        logging.getLogger("ray.tune.tune").addFilter(quiet_tune_interrupt)


def quiet_tune_interrupt(record: logging.LogRecord) -> bool:
    """Drop Tune's own notes on a stop signal: they name ``Tuner.restore``, where the sweep
    ends with one line naming `orch sweep SPEC --resume`."""
    return not str(record.msg).startswith(("Stop signal received", "Experiment has been interr"))


LOOPBACK = "127.0.0.1"


@contextmanager
def loopback_node(local: bool):
    """Let a new local instance keep 127.0.0.1 as its node IP.

    Ray's GCS, raylet and workers listen on 127.0.0.1 exactly when the node IP is 127.0.0.1,
    and its agents and metrics servers bind the node IP; otherwise they listen on every
    interface. ``ray.init`` swaps a loopback ``_node_ip_address`` for the machine's routable
    IP, except where Ray runs without clusters (macOS, Windows), so the call runs as there.
    tests/integration/test_security.py fails if a Ray upgrade changes this.
    """
    from ray._private import ray_constants

    saved = ray_constants.ENABLE_RAY_CLUSTER
    if local:
        ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


@contextmanager
def free_agent_port(local: bool):
    """Give a new local instance's dashboard agent a free port instead of Ray's fixed 52365.

    ``ray.init`` offers no way to set it (``ray start`` has ``--dashboard-agent-listen-port``),
    and a second instance on one machine (another sweep, a ``ray start`` left running) found
    52365 taken and ran without its agent: no job API, silently. The port is set where Ray
    builds its node's parameters, for the duration of the call.
    """
    from ray._private import parameter, ray_constants

    if not local:
        yield
        return
    original = parameter.RayParams.__init__

    def with_free_port(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        if self.dashboard_agent_listen_port == ray_constants.DEFAULT_DASHBOARD_AGENT_LISTEN_PORT:
            self.dashboard_agent_listen_port = _free_port()

    parameter.RayParams.__init__ = with_free_port
    try:
        yield
    finally:
        parameter.RayParams.__init__ = original
