"""What a researcher sees in a browser: `orch ui`'s printed link, the runs table, the sweep
run's description, the compare page over the front (headless Chromium, Debian's package).

Each page is also saved as a screenshot: the tutorial's pictures are these
(``ORCH_SCREENSHOTS=docs/assets pytest tests/integration/test_ui_browser.py`` renews them).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import free_port, run_orch, serve_ui
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


def screenshot(url: str, path: Path, *, budget_ms: int = 20000) -> Path:
    """The page as a PNG once its scripts have run, checked to show something: a page that
    failed to render is one flat colour."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--hide-scrollbars", f"--virtual-time-budget={budget_ms}", "--window-size=1280,800",
         f"--screenshot={path}", url],
        capture_output=True, timeout=180, check=True,
    )  # fmt: skip
    with Image.open(path) as image:
        assert image.size == (1280, 800)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 50, f"{url} rendered as a flat page"
    return path


def test_the_printed_links_open_the_runs_the_description_and_the_front(tiny_sweep, tmp_path):
    shots = Path(os.environ.get("ORCH_SCREENSHOTS") or tmp_path)
    uri = f"sqlite:///{tiny_sweep.cwd}/mlflow.db"
    (parent,), kids = children(client_for(tiny_sweep.cwd))
    with serve_ui(uri, tiny_sweep.cwd) as (lines, port, _):
        (runs_table,) = [line.split(": ", 1)[1] for line in lines if "cocoa-toyworld:" in line]
        assert runs_table.endswith("/runs?workflowType=machine_learning")
        text = page_text(runs_table, wait_for="matching runs")
        # the runs table (not the GenAI overview) with the sweep's run and all it nests
        assert parent.info.run_name in text and "Run Name" in text, text[:2000]
        assert "7 matching runs" in text  # the sweep, 3 configurations, 3 cells
        screenshot(runs_table, shots / "ui-runs-table.png")

        run_page = f"http://127.0.0.1:{port}/#/experiments/{parent.info.experiment_id}/runs/"
        text = page_text(run_page + parent.info.run_id, wait_for="Selection rule")
        assert "Selection rule" in text and "Pareto front (validation" in text, text[:2000]
        assert "zero_shot" in text and "Compare the front" in text
        screenshot(run_page + parent.info.run_id, shots / "ui-sweep-run.png")

        report = run_orch("report", "--port", str(port), cwd=tiny_sweep.cwd)
        (compare,) = [line.split(": ", 1)[1] for line in report.stdout.splitlines()
                      if "compare the front:" in line]  # fmt: skip
        text = page_text(compare, wait_for="Parallel Coordinates")
        front = [k for k in kids if k.data.tags["pareto"] == "true"]
        assert f"Comparing {len(front)} Runs" in text, text[:2000]
        for kid in front:
            assert kid.info.run_id in text
        screenshot(compare, shots / "ui-compare-front.png")


def test_optuna_dashboard_shows_the_study_in_a_browser(tiny_sweep, tmp_path):
    """The tutorial's `optuna-dashboard orch_runs/<sweep>/optuna.journal`, opened in Chromium:
    the study under the sweep's name, its objectives named, every configuration a trial."""
    pytest.importorskip("optuna_dashboard")
    shots = Path(os.environ.get("ORCH_SCREENSHOTS") or tmp_path)
    (journal,) = (tiny_sweep.cwd / "orch_runs").glob("*/optuna.journal")
    (parent,), _ = children(client_for(tiny_sweep.cwd))
    port = free_port()
    dashboard = Path(sys.executable).with_name("optuna-dashboard")
    server = subprocess.Popen(
        [str(dashboard), str(journal), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        base, deadline = f"http://127.0.0.1:{port}", time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/studies", timeout=2) as answer:
                    study_id = json.load(answer)["study_summaries"][0]["study_id"]
                break
            except OSError:
                assert time.time() < deadline and server.poll() is None, "no optuna-dashboard"
                time.sleep(0.5)
        page = f"{base}/dashboard/studies/{study_id}"
        text = page_text(page, wait_for="Complete")
        assert parent.data.tags["orch.sweep"] in text, text[:2000]
        screenshot(page, shots / "optuna-dashboard.png")
        history = page_text(f"{page}/analytics", wait_for="hm")
        assert "hm" in history and "ece" in history, history[:2000]
    finally:
        server.terminate()
        server.wait(timeout=30)
