"""The feature-cache fill before a sweep's trials, skipped when it is known to be done.

A fill computes every episode's image and text features once, in Ray tasks that import the
data plane. When a fill with the same requests already finished into this cache, the sweep
starts no task at all: a marker file records it, keyed by the requests, the weights files,
the torch and open_clip versions and the datasets' folders as the data root lists them. The
marker only decides whether to start the fill: every cache entry is keyed by the content it
was computed from (``workers.cache``), so data changed in a way the marker misses, or a cache
emptied by hand, costs speed (trials compute what they miss), never wrong features. Nothing
of a dataset is opened here: a leak-free sweep must not even list its new classes' files.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from importlib import metadata
from pathlib import Path

from orchestrator.report.summary import duration
from orchestrator.search.tuner import cache_fill_requests, fill, planned_fill
from orchestrator.spec.load import Spec
from workers.errors import UserError
from workers.messages import TrialRequest
from workers.paths import ASSET_DIR, cache_dir, default_data_root


def _stat(path: Path) -> str:
    stat = path.stat()
    return f"{path}|{stat.st_size}|{stat.st_mtime_ns}"


def _datasets(requests: list[TrialRequest]) -> set[str]:
    names = set()
    for request in requests:
        for cell in request.cells():
            names |= {cell.dataset, *cell.targets}
        method = request.config().method
        if method.image_outliers and method.lam_visual:
            names.add(method.image_outliers)
    return names


def fill_key(spec: Spec, requests: list[TrialRequest]) -> str:
    """What decides the features a fill computes, as one digest."""
    digest = hashlib.sha256()
    digest.update(json.dumps([r.to_ray() for r in requests], sort_keys=True).encode())
    for package in ("torch", "open_clip_torch"):
        digest.update(f"{package}={metadata.version(package)}".encode())
    weights = [p for p in sorted(ASSET_DIR.glob("*")) if p.is_file()]
    if spec.trial.model.checkpoint:
        weights.append(Path(spec.trial.model.checkpoint).expanduser())
    root = Path(spec.trial.data.root or default_data_root()).expanduser()
    folders = [root / n.removeprefix("folder:") for n in sorted(_datasets(requests))]
    for path in weights + [p for p in folders if p.exists()]:
        digest.update(_stat(path).encode())
    return digest.hexdigest()[:32]


POLL_S = 0.5


class FillCounter:
    """Images the sweep's fill tasks have done, summed (a Ray actor)."""

    def __init__(self) -> None:
        self.done = 0

    def add(self, images: int) -> None:
        self.done += images

    def read(self) -> int:
        return self.done


class FillBar:
    """The fill's progress: one line redrawn in a terminal; elsewhere (a log, a Ray job's
    output) a line every ``every_s`` seconds and the last one."""

    WIDTH = 24

    def __init__(self, episodes: int, stream=None, *, live: bool | None = None, every_s=15.0):
        self.episodes, self.stream = episodes, stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.every_s, self.began, self.shown_at = every_s, time.monotonic(), -math.inf
        self.line = ""

    def text(self, planned: int, done: int, episodes_done: int, elapsed: float) -> str:
        share = min(done / planned, 1.0) if planned else 0.0
        filled = round(share * self.WIDTH)
        left = elapsed * (planned - done) / done if 0 < done < planned else math.nan
        eta = f", about {duration(left)} left" if math.isfinite(left) else ""
        return (
            f"feature cache [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{planned} "
            f"images, {episodes_done}/{self.episodes} episodes, {duration(elapsed)}{eta}"
        )

    def show(self, planned: int, done: int, episodes_done: int) -> None:
        now = time.monotonic()
        self.line = self.text(planned, done, episodes_done, now - self.began)
        if self.live:
            self.stream.write(f"\r\x1b[K{self.line}")
            self.stream.flush()
        elif now - self.shown_at >= self.every_s and episodes_done < self.episodes:
            print(self.line, file=self.stream, flush=True)
            self.shown_at = now

    def close(self) -> None:
        """The last state, on a line of its own."""
        if self.line:
            print(("\r\x1b[K" if self.live else "") + self.line, file=self.stream, flush=True)


def fill_feature_cache(spec: Spec) -> None:
    """Every episode's features, once, before any trial starts (trials then only read).

    A user error in a fill task (an unreadable image, a missing dataset) stops the sweep
    with that error's own line: every trial drawing the episode would fail the same way.
    """
    import ray
    from ray.exceptions import RayTaskError

    requests = cache_fill_requests(spec)
    marker = cache_dir() / "fills" / f"{fill_key(spec, requests)}.done"
    if marker.is_file():
        print(f"feature cache: all {len(requests)} episode(s) already filled", flush=True)
        return
    print(f"filling the feature cache for {len(requests)} episode(s)...", flush=True)
    resources = spec.sweep.resources
    task = ray.remote(fill).options(num_cpus=resources.cpu, num_gpus=resources.gpu)
    counter = ray.remote(FillCounter).options(num_cpus=0).remote()
    bar = FillBar(len(requests))
    try:
        # the split files say how many images the fill reads: a second, in a worker that
        # the first fill task then reuses
        planned = ray.get(ray.remote(planned_fill).options(num_cpus=resources.cpu).remote(requests))
        pending = refs = [task.remote(request, counter) for request in requests]
        while pending:  # in parallel, as resources allow
            _, pending = ray.wait(pending, num_returns=len(pending), timeout=POLL_S)
            bar.show(planned, ray.get(counter.read.remote()), len(requests) - len(pending))
        ray.get(refs)
    except RayTaskError as exc:  # its text is the task's whole traceback
        if isinstance(exc.cause, UserError):
            raise exc.cause from exc  # ORCH_DEBUG=1 shows the task's traceback
        raise
    finally:
        bar.close()
        ray.kill(counter)
    # keyed again: a fill may have generated a toy dataset's folder
    marker = cache_dir() / "fills" / f"{fill_key(spec, requests)}.done"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"episodes": len(requests), "spec": str(spec.path)}))
