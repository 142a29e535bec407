"""Throughput of ``allocator batch`` on a local Dask cluster of 1 worker, then of 2 workers.

    python bench/batch_workers.py [--instances 8] [--scale province]

Generates the instances (seeds 1..N, not timed), then runs the same batch (each instance once,
no overrides) with ``run_batch(scheduler="local", workers=1)`` and ``workers=2``. Seconds are the
wall time of the whole ``run_batch`` call, starting and closing the cluster included. Prints the
date, the machine and its load average before the runs, the seconds and tasks/s of each run and the
CPU seconds other processes took meanwhile (a shared machine slows the run down), the
ratio of throughputs (2 workers / 1 worker), and whether the two tables are identical (every
column but the timings). Both runs use a copy of ``allocator/`` taken at the start.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "allocator"


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        h.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return h.hexdigest()


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (Linux; NaN elsewhere)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds of this process and of its children that have ended (the cluster's processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--instances", type=int, default=8)
    p.add_argument("--scale", default="province", choices=["province", "prefecture"])
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # Both runs use one copy of the code: the worker processes import allocator afresh (they
        # inherit this sys.path), so an edit of the checkout between the runs would not be measured.
        code = Path(tmp) / "code"
        shutil.copytree(PACKAGE, code / "allocator", ignore=shutil.ignore_patterns("__pycache__"))
        sys.path.insert(0, str(code))
        from allocator.pipeline.batch import COLUMNS, make_tasks, run_batch
        from allocator.tools.generate import generate, write_instance

        paths = []
        for seed in range(1, a.instances + 1):
            path = Path(tmp) / f"{a.scale}-{seed}"
            write_instance(generate(a.scale, seed), path, note=f"--scale {a.scale} --seed {seed}")
            paths.append(str(path))
        tasks = make_tasks(paths)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(
            f"# {datetime.date.today()} | {platform.node()} | {platform.processor() or platform.machine()} | "
            f"{os.cpu_count()} cores | {platform.platform()} | Python {platform.python_version()} | "
            f"load average before: {load:.2f}"
        )
        print(f"code: allocator/ as of the start (sha256 {digest(code / 'allocator')[:12]})")
        print(
            f"batch: {len(tasks)} generated {a.scale}-scale instances (seeds 1-{a.instances}), no overrides; "
            "local Dask cluster, 1 thread per worker; seconds include starting and closing the cluster"
        )
        print("other CPU s: CPU seconds the machine spent on other processes during the run")
        print(
            f"{'workers':>7}  {'tasks':>5}  {'seconds':>8}  {'tasks/s':>8}  {'solver s/task':>13}  {'other CPU s':>11}"
        )
        tables, rates = {}, {}
        for workers in (1, 2):
            busy, own, t = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
            table = run_batch(tasks, scheduler="local", workers=workers)
            wall = time.perf_counter() - t
            other = (busy_cpu_seconds() - busy) - (own_cpu_seconds() - own)
            tables[workers], rates[workers] = table, len(table) / wall
            print(
                f"{workers:>7}  {len(table):>5}  {wall:>8.1f}  {rates[workers]:>8.3f}  "
                f"{table['seconds'].mean():>13.2f}  {max(other, 0.0):>11.1f}"
            )
        ok = all((tables[w]["status"] == "optimal").all() for w in tables)
        cols = [c for c in COLUMNS if c != "seconds"]
        same = tables[1][cols].equals(tables[2][cols])
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"throughput 2 workers / 1 worker: {rates[2] / rates[1]:.2f}")
        print(
            f"all tasks optimal: {'yes' if ok else 'NO'}; results identical (all columns but seconds): "
            f"{'yes' if same else 'NO'}; load average after: {load:.2f}"
        )
        if not same:
            print(tables[1][cols].compare(tables[2][cols], result_names=("1 worker", "2 workers")).to_string())


if __name__ == "__main__":
    main()
