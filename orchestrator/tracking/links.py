"""Deep links into the MLflow UI: the runs table, a run, the compare page.

MLflow 3 opens an experiment on its GenAI traces page unless the URL asks for the
machine-learning view (``workflowType=machine_learning``); every link we print asks. With
an empty ``base`` the links are relative (``#/...``): what a run's markdown description
needs, since it is shown by the UI that serves it, wherever that is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import quote

DEFAULT_UI_PORT = 5000  # `orch ui`'s
ML_VIEW = "workflowType=machine_learning"


def ui_base(uri: str, port: int = DEFAULT_UI_PORT) -> str:
    """Where the UI of tracking store ``uri`` is: a server's own address, else `orch ui`'s."""
    if uri.startswith(("http://", "https://")):
        return uri.rstrip("/")
    return f"http://127.0.0.1:{port}"


def _page(base: str, route: str) -> str:
    return f"{base}/#/{route}" if base else f"#/{route}"


def runs_link(base: str, experiment_id: str) -> str:
    return _page(base, f"experiments/{experiment_id}/runs?{ML_VIEW}")


def run_link(base: str, experiment_id: str, run_id: str) -> str:
    return _page(base, f"experiments/{experiment_id}/runs/{run_id}")


def compare_link(base: str, experiment_id: str, run_ids: Sequence[str]) -> str:
    """MLflow's compare page (parallel coordinates, scatter, table) over ``run_ids``."""
    runs = quote(json.dumps(sorted(run_ids), separators=(",", ":")), safe="")
    experiments = quote(json.dumps([experiment_id], separators=(",", ":")), safe="")
    return _page(base, f"compare-runs?runs={runs}&experiments={experiments}")
