"""Time allocator's HiGHS path against the independent PuLP+CBC and networkx paths.

    python bench/solver_paths.py [--sources 40] [--regions 60] [--seed 1] [--repeat 3]

Prints, for one generated instance (equity off, so all three paths solve the same
two-stage problem): arcs, seconds per path (median of --repeat runs, build + solve +
extract, imports excluded), the ratio to allocator's time, and whether the objectives
agree. The date and the machine are printed with the figures.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import allocator  # noqa: E402
from helpers import random_instance  # noqa: E402
from reference import networkx_reference, pulp_reference  # noqa: E402


def timed(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sources", type=int, default=40)
    p.add_argument("--regions", type=int, default=60)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    inst = random_instance(a.seed, n_sources=a.sources, n_regions=a.regions, equity=False)
    from allocator.model import build

    arcs = build(inst).n_ship
    print(f"# {datetime.date.today()} | {platform.node()} | {platform.processor() or platform.machine()} | "
          f"{os.cpu_count()} cores | Python {platform.python_version()}")
    print(f"instance: {a.sources} sources, {a.regions} regions, 3 products, {arcs} route-product arcs, equity off")
    t_hi, r = timed(lambda: allocator.solve(inst, check=False), a.repeat)
    t_pu, ref = timed(lambda: pulp_reference(inst), a.repeat)
    t_nx, nxr = timed(lambda: networkx_reference(inst), a.repeat)
    print(f"{'path':<28}{'seconds':>10}{'ratio':>8}  objective agrees")
    for name, t, o in (("allocator (HiGHS, arrays)", t_hi, r.objective),
                       ("PuLP + CBC (per-variable)", t_pu, ref), ("networkx network_simplex", t_nx, nxr)):
        agree = (abs(o["weighted_shortfall"] - r.objective["weighted_shortfall"]) < 1e-6
                 and abs(o["route_cost"] - r.objective["route_cost"]) < 1e-6)
        print(f"{name:<28}{t:>10.3f}{t / t_hi:>8.1f}  {'yes' if agree else 'NO'}")


if __name__ == "__main__":
    main()
