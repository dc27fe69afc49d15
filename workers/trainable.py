"""Ray Tune's side of a trial: rebuild the typed request, run its cells, report, checkpoint.

The config Ray hands over is a ``TrialRequest`` as plain data (``workers.messages``). A
trial holds one bundle of resources per cell that runs at once: this process trains the
first group of cells in the first bundle, a ``CellGroup`` actor in each other bundle trains
another group, and all of them advance epoch by epoch together. Every epoch's report carries
the configuration's metrics (means over cells), each cell's, and a Tune checkpoint of every
cell's state (the only place trial state is written); the last report, marked ``final``,
adds each cell's test metrics and reliability diagrams (validation and test) and the node the
trial ran on.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from workers.cells import CellGroup, Cost, Submit, local, run_groups
from workers.episode import planned_images, prepare_episode
from workers.features import reporting_encoded
from workers.messages import CELLS, CHECKPOINT, FINAL, CellResult, TrialRequest
from workers.model import load_clip
from workers.node import node_name
from workers.protocol import groups
from workers.trial import total_epochs

__all__ = ["fill_cache", "planned_fill", "train_trial"]


def _report(metrics: dict[str, Any], cells: list[CellResult], state: dict) -> None:
    from ray import tune

    with tempfile.TemporaryDirectory() as folder:
        torch.save(state, Path(folder) / CHECKPOINT)
        result = {**metrics, CELLS: [c.to_dict() for c in cells]}
        tune.report(result, checkpoint=tune.Checkpoint.from_directory(folder))


def _restored_state() -> dict | None:
    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        return torch.load(Path(folder) / CHECKPOINT, weights_only=True)


def _remote(group_actor) -> Submit:
    import ray

    def submit(method: str, *args):
        ref = getattr(group_actor, method).remote(*args)
        return lambda: ray.get(ref)

    return submit


def bundle_threads(index: int) -> int | None:
    """torch's intra-op threads for the process in bundle ``index`` of this trial: the CPUs
    the bundle holds (at least 1); None outside a placement group (``orch trial``: torch's
    own default). Two 1-CPU trials on a 2-core machine ran 2 threads each before."""
    from ray.util.placement_group import get_current_placement_group

    placement = get_current_placement_group()
    return None if placement is None else _threads(placement.bundle_specs[index])


def _threads(bundle: dict[str, float]) -> int:
    return max(1, int(bundle.get("CPU", 1)))


def _cell_groups(request: TrialRequest, states: dict | None) -> list[Submit]:
    """This process's group in the trial's first bundle, an actor in each other bundle."""
    import ray
    from ray.util.placement_group import get_current_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    cfg = request.config()
    dealt = groups(request.cells(), request.protocol.parallel(cfg))
    placement = get_current_placement_group()
    submits = []
    for index, cells in enumerate(dealt[1:], start=1):
        bundle = placement.bundle_specs[index] if placement else {}
        actor = (
            ray.remote(CellGroup)
            .options(
                num_cpus=bundle.get("CPU", 0),
                num_gpus=bundle.get("GPU", 0),
                scheduling_strategy=PlacementGroupSchedulingStrategy(
                    placement_group=placement, placement_group_bundle_index=index
                )
                if placement
                else None,
            )
            .remote(cfg, cells, states, threads=_threads(bundle) if placement else None)
        )
        submits.append(_remote(actor))
    return [local(CellGroup(cfg, dealt[0], states, threads=bundle_threads(0))), *submits]


def _gpus_held() -> float:
    from ray.util.placement_group import get_current_placement_group

    placement = get_current_placement_group()
    return sum(b.get("GPU", 0) for b in placement.bundle_specs) if placement else 0.0


def train_trial(config: dict[str, Any]) -> None:
    """The function trainable handed to ``ray.tune.Tuner``."""
    began = time.monotonic()
    request = TrialRequest.from_ray(config)
    restored = _restored_state()
    cost = Cost.resumed(restored, _gpus_held(), began=began)
    submits = _cell_groups(request, (restored or {}).get("cells"))
    result = run_groups(submits, request.config(), report=_report, cost=cost)
    # at its last epoch's step: the final report adds to that epoch, it is not one more
    final = {**result.metrics, "epoch": total_epochs(request.config()), "node": node_name()}
    final["cost_threads"] = torch.get_num_threads()  # this process's, as its bundle set them
    final[FINAL] = 1
    _report(final, result.cells, result.state)  # its checkpoint holds the learned prompts


def planned_fill(requests: list[TrialRequest]) -> int:
    """How many images the fill of ``requests`` reads, cached or not (split files only)."""
    total = 0
    for request in requests:
        cfg = request.config()
        total += sum(planned_images(cell.config(cfg), cell) for cell in request.cells())
    return total


def fill_cache(request: TrialRequest, report: Callable[[int], None] | None = None) -> int:
    """Compute every image and text feature the request's cells will read.

    ``report(n)`` hears of ``n`` more images done: each encoded batch as it is done, and
    once a cell is ready, the images it found in the cache (``planned_images`` counts both)."""
    cfg = request.config()
    cells = request.cells()
    clip = load_clip(cfg.model)
    encoded = 0

    def count(n: int) -> None:
        nonlocal encoded
        encoded += n
        if report:
            report(n)

    for cell in cells:
        before = encoded
        with reporting_encoded(count):
            prepare_episode(clip, cell.config(cfg), cell)
        if report:  # the split files again (no image): what the cell found cached
            cached = planned_images(cell.config(cfg), cell) - (encoded - before)
            if cached > 0:
                report(cached)
    return len(cells)
