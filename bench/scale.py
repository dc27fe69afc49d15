"""Scale: N configurations of 33 cells replayed through the real `orch sweep`, with ASHA, on a
four-node loopback Ray cluster, tracked by an `mlflow server` on a throwaway PostgreSQL.

    .venv/bin/python bench/scale.py [--n 100 300 1000] [--sqlite 100] [--kill 300]
        [--nodes 4] [--cpus 4] [--epoch-seconds 60] [--time-scale 0.01] [--out scale]

Each N gets a synthetic table (``--n`` configurations of the cocoa space plus its named
points, each scored over 11 datasets x 3 seeds, its epochs recorded as ``--epoch-seconds``
long) that `orch sweep --replay` serves at ``--time-scale``, so the orchestration itself is
what is measured: Ray Tune, the Optuna journal, ASHA, the MLflow writes (a run per
configuration and one per cell), selection and the report. The bench starts and stops
everything on 127.0.0.1: a head and ``--nodes - 1`` `ray start` nodes of ``--cpus`` logical
CPUs, PostgreSQL (``initdb``/``pg_ctl`` under a temporary folder) behind an `mlflow server`.
``--sqlite`` runs those N against a SQLite-backed server instead, beside; ``--kill`` runs
those N with the driver killed (SIGKILL) at about half its configurations, then
``--resume``.

Printed per run: wall time against the ideal (the replayed seconds the trials served, over
the concurrent slots) and the overhead; the driver's CPU per configuration and its peak RSS;
MLflow rows written per second; the Optuna journal's size; `orch report`'s time; the time
until headless Chromium shows the experiment's runs page; and the integrity count
(``bench/scale_checks.py``). The last line reads ``scale: N=... driver X ms per
configuration (Y x of N=...), peak RSS Z GiB, report T s, UI U s, overhead O %, lost L,
duplicated D``; the bench exits 1 when anything was lost or duplicated.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.scale_checks import (  # noqa: E402
    SPEC,
    Integrity,
    configuration_runs,
    database_rows,
    experiment_id,
    ideal_seconds,
    integrity,
    ray_overrides,
    synthetic_table,
)
from tests.integration.cluster import MlflowServer, ray_cluster  # noqa: E402
from tests.integration.postgres import postgres_server  # noqa: E402

EXPERIMENT = "scale"


@dataclass
class Run:
    label: str
    n: int
    wall_s: float
    ideal_s: float
    driver_cpu_s: float
    peak_rss: int  # bytes
    rows_per_s: float
    journal_bytes: int
    report_s: float
    ui_s: float
    count: Integrity

    @property
    def overhead(self) -> float:
        return self.wall_s / self.ideal_s - 1 if self.ideal_s else float("nan")

    @property
    def ms_per_configuration(self) -> float:
        return 1000 * self.driver_cpu_s / max(self.n, 1)


def watch(proc: subprocess.Popen, every_s: float = 0.5, until=None) -> tuple[float, int]:
    """Poll a process's CPU seconds and peak RSS from /proc until it exits (or ``until()``
    holds). -> (CPU seconds, peak RSS bytes), as last seen"""
    tick = os.sysconf("SC_CLK_TCK")
    cpu, peak = 0.0, 0
    while proc.poll() is None:
        try:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / tick
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            break
        if until is not None and until():
            break
        time.sleep(every_s)
    return cpu, peak


def ui_seconds(base: str, experiment_id: str, budget_s: float = 120) -> float:
    """Seconds until headless Chromium shows the experiment's runs page with its count."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return float("nan")
    url = f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
    began = time.monotonic()
    for virtual_ms in (5000, 10000, 20000, 40000):
        dom = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             f"--virtual-time-budget={virtual_ms}", "--dump-dom", url],
            capture_output=True, text=True, timeout=budget_s,
        ).stdout  # fmt: skip
        if "matching runs" in dom:
            return time.monotonic() - began
    return float("inf")


def sweep(
    folder: Path,
    table: Path,
    address: str,
    uri: str,
    n: int,
    slots: int,
    time_scale: float,
    *,
    resume: bool = False,
    kill_at: int | None = None,
    count_runs=None,
    cells: str = "final",
) -> tuple[float, float, int, subprocess.Popen]:
    """One `orch sweep --replay` driver. -> (wall s, driver CPU s, peak RSS, the process)"""
    argv = [sys.executable, "-m", "orchestrator.cli", "sweep", str(SPEC), "--replay", str(table),
            "--time-scale", str(time_scale), "--address", address, "--tracking-uri", uri,
            *ray_overrides(n, slots, EXPERIMENT, cells),
            *(["--resume"] if resume else [])]  # fmt: skip
    log = open(folder / ("resume.log" if resume else "sweep.log"), "w")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    began = time.monotonic()
    proc = subprocess.Popen(argv, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    until = (lambda: count_runs() >= kill_at) if kill_at is not None else None
    cpu, peak = watch(proc, until=until)
    if kill_at is not None and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)  # the driver only: the cluster and MLflow stay up
    proc.wait()
    return time.monotonic() - began, cpu, peak, proc


def measure(label: str, n: int, args, folder: Path, tracking: str, kill: bool) -> Run:
    """Start the cluster and MLflow, replay N configurations, count what is left."""
    from mlflow.tracking import MlflowClient

    folder.mkdir(parents=True)
    table = synthetic_table(folder / "table.parquet", n, args.epoch_seconds, seed=n)
    slots = args.nodes * args.cpus
    with ExitStack() as stack:
        if tracking == "postgres":
            backend = stack.enter_context(postgres_server()).uri
        else:
            backend = f"sqlite:///{folder / 'mlflow.db'}"
        server = MlflowServer(folder, backend=backend).start()
        stack.callback(server.stop)
        cluster = stack.enter_context(
            ray_cluster(folder, token=None, nodes=args.nodes, cpus=args.cpus)
        )
        client = MlflowClient(tracking_uri=server.uri)
        kill_at = n // 2 if kill else None
        wall, cpu, peak, proc = sweep(
            folder, table, cluster.address, server.uri, n, slots, args.time_scale,
            kill_at=kill_at, count_runs=lambda: configurations_logged(client),
            cells=args.cell_metrics,
        )  # fmt: skip
        if kill:
            more = sweep(folder, table, cluster.address, server.uri, n, slots, args.time_scale,
                         resume=True, cells=args.cell_metrics)  # fmt: skip
            wall, cpu, peak, proc = wall + more[0], cpu + more[1], max(peak, more[2]), more[3]
        if proc.returncode != 0:
            tail = (folder / ("resume.log" if kill else "sweep.log")).read_text()[-3000:]
            raise SystemExit(f"{label}: the sweep failed (exit {proc.returncode}):\n{tail}")
        rows = database_rows(backend)
        began = time.monotonic()
        report = subprocess.run(
            [sys.executable, "-m", "orchestrator.cli", "report", "--experiment", EXPERIMENT,
             "--tracking-uri", server.uri], cwd=folder, capture_output=True, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        report_s = time.monotonic() - began
        assert report.returncode == 0, report.stderr[-2000:]
        ui_s = ui_seconds(server.uri, experiment_id(client, EXPERIMENT))
        (journal,) = (folder / "orch_runs").glob("*/optuna.journal")
        count = integrity(client, EXPERIMENT, journal, n, backend=backend)
        served = ideal_seconds(client, EXPERIMENT, backend, args.epoch_seconds)
        ideal = served * args.time_scale / slots
    return Run(label, n, wall, ideal, cpu, peak, rows / wall, journal.stat().st_size, report_s,
               ui_s, count)  # fmt: skip


def configurations_logged(client) -> int:
    try:
        return len(configuration_runs(client, EXPERIMENT))
    except Exception:  # the experiment is not there yet
        return 0


def print_table(runs: list[Run]) -> None:
    head = (f"{'run':<22} {'N':>5} {'wall s':>7} {'ideal s':>7} {'overhead':>8} "
            f"{'driver ms/conf':>14} {'peak RSS':>9} {'rows/s':>7} {'journal':>8} "
            f"{'report s':>8} {'UI s':>6}  integrity")  # fmt: skip
    print(head)
    for r in runs:
        print(f"{r.label:<22} {r.n:>5} {r.wall_s:>7.1f} {r.ideal_s:>7.1f} {r.overhead:>8.1%} "
              f"{r.ms_per_configuration:>14.1f} {r.peak_rss / 2**30:>7.2f}Gi {r.rows_per_s:>7.0f} "
              f"{r.journal_bytes / 2**20:>6.1f}Mi {r.report_s:>8.1f} {r.ui_s:>6.1f}  "
              f"{r.count}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--sqlite", type=int, nargs="*", default=[100], help="none: --sqlite")
    parser.add_argument("--kill", type=int, nargs="*", default=[300], help="none: --kill")
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--cpus", type=int, default=4)
    parser.add_argument("--epoch-seconds", type=float, default=60.0)
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument(
        "--cell-metrics",
        choices=["final", "every_epoch", "one_run"],
        default="one_run",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="orch-scale-"))
    plan = [(f"N={n} postgres", n, "postgres", False) for n in args.n]
    plan += [(f"N={n} sqlite", n, "sqlite", False) for n in args.sqlite]
    plan += [(f"N={n} postgres kill -9", n, "postgres", True) for n in args.kill]
    runs = []
    for label, n, tracking, kill in plan:
        folder = out / label.replace(" ", "-").replace("=", "")
        print(f"running {label} in {folder} ...", flush=True)
        runs.append(measure(label, n, args, folder, tracking, kill))
        print_table(runs)
    plain = [r for r in runs if r.label.endswith("postgres")]
    big, small = max(plain, key=lambda r: r.n), min(plain, key=lambda r: r.n)
    lost = sum(r.count.lost for r in runs)
    duplicated = sum(r.count.duplicated for r in runs)
    print(
        f"scale: N={big.n} driver {big.ms_per_configuration:.0f} ms per configuration "
        f"({big.ms_per_configuration / small.ms_per_configuration:.2f} x of N={small.n}), "
        f"peak RSS {big.peak_rss / 2**30:.2f} GiB, report {big.report_s:.1f} s, "
        f"UI {big.ui_s:.1f} s, overhead {100 * big.overhead:.0f} %, lost {lost}, "
        f"duplicated {duplicated}"
    )
    return 1 if lost or duplicated else 0


if __name__ == "__main__":
    raise SystemExit(main())
