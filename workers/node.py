"""Which machine a trial ran on, as its final report names it (no torch: replays use it)."""

from __future__ import annotations

import platform


def node_name() -> str:
    """``host:ray-node-id`` (its first 8 characters) inside Ray, else the host name."""
    import ray

    if not ray.is_initialized():  # asking the runtime context would start a Ray instance
        return platform.node()
    return f"{platform.node()}:{ray.get_runtime_context().get_node_id()[:8]}"
