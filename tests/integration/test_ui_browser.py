"""What a researcher sees in a browser: `orch ui`'s printed link, the runs table, the sweep
run's description, the compare page over the front (headless Chromium, Debian's package)."""

import re
import shutil
import subprocess

import pytest

from tests.helpers import run_orch, serve_ui
from tests.integration.test_sweep import children, client_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM, reason="needs Chromium: apt-get install chromium"),
]


def page_text(url: str, *, wait_for: str, budget_ms: int = 20000) -> str:
    """The page's visible text once its scripts have run (retried once with more time: the
    single-page app fetches its data after loading)."""
    text = ""
    for budget in (budget_ms, 3 * budget_ms):
        dom = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             f"--virtual-time-budget={budget}", "--dump-dom", url],
            capture_output=True, text=True, timeout=180,
        ).stdout  # fmt: skip
        dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))
        if wait_for in text:
            break
    return text


def test_the_printed_links_open_the_runs_the_description_and_the_front(tiny_sweep):
    uri = f"sqlite:///{tiny_sweep.cwd}/mlflow.db"
    (parent,), kids = children(client_for(tiny_sweep.cwd))
    with serve_ui(uri, tiny_sweep.cwd) as (lines, port, _):
        (runs_table,) = [line.split(": ", 1)[1] for line in lines if "cocoa-toyworld:" in line]
        assert runs_table.endswith("/runs?workflowType=machine_learning")
        text = page_text(runs_table, wait_for="matching runs")
        # the runs table (not the GenAI overview) with the sweep's run and all it nests
        assert parent.info.run_name in text and "Run Name" in text, text[:2000]
        assert "7 matching runs" in text  # the sweep, 3 configurations, 3 cells

        run_page = f"http://127.0.0.1:{port}/#/experiments/{parent.info.experiment_id}/runs/"
        text = page_text(run_page + parent.info.run_id, wait_for="Selection rule")
        assert "Selection rule" in text and "Pareto front (validation" in text, text[:2000]
        assert "zero_shot" in text and "Compare the front" in text

        report = run_orch("report", "--port", str(port), cwd=tiny_sweep.cwd)
        (compare,) = [line.split(": ", 1)[1] for line in report.stdout.splitlines()
                      if "compare the front:" in line]  # fmt: skip
        text = page_text(compare, wait_for="Parallel Coordinates")
        front = [k for k in kids if k.data.tags["pareto"] == "true"]
        assert f"Comparing {len(front)} Runs" in text, text[:2000]
        for kid in front:
            assert kid.info.run_id in text
