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
from importlib import metadata
from pathlib import Path

from orchestrator.spec import Spec
from orchestrator.tuner import cache_fill_requests, fill
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
    try:
        ray.get([task.remote(request) for request in requests])  # in parallel, as resources allow
    except RayTaskError as exc:  # its text is the task's whole traceback
        if isinstance(exc.cause, UserError):
            raise exc.cause from exc  # ORCH_DEBUG=1 shows the task's traceback
        raise
    # keyed again: a fill may have generated a toy dataset's folder
    marker = cache_dir() / "fills" / f"{fill_key(spec, requests)}.done"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"episodes": len(requests), "spec": str(spec.path)}))
