"""Time allocator's engines against each other and against independent solution paths.

    python bench/solver_paths.py [--sources 40] [--regions 60] [--seed 1] [--repeat 3]
    python bench/solver_paths.py --instance DIR [--repeat 3]      # e.g. a generated instance

Prints the date and the machine, then for one instance: arcs, and seconds per path
(median of --repeat runs of build + solve + plan, imports excluded) with the ratio to the
first row. Equity off: allocator's network engine, its LP engine (HiGHS), PuLP + CBC with
one variable per arc and networkx's network simplex (the last two only for the small
generated instance: they are the tests' reference paths). Equity on: both engines. Every
row says whether its objective agrees with the first row's.
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


def timed(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--instance", help="instance folder (default: a random generated one)")
    p.add_argument("--sources", type=int, default=40)
    p.add_argument("--regions", type=int, default=60)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    from allocator.build.daily import build

    if a.instance:
        inst = allocator.load(a.instance)
        what = a.instance
    else:
        from helpers import random_instance

        inst = random_instance(a.seed, n_sources=a.sources, n_regions=a.regions, equity=False)
        what = f"random: {a.sources} sources, {a.regions} regions, 3 products"
    arcs = build(inst).n_ship
    print(
        f"# {datetime.date.today()} | {platform.node()} | {platform.processor() or platform.machine()} | "
        f"{os.cpu_count()} cores | Python {platform.python_version()}"
    )
    print(f"instance: {what}; {arcs:,} route-product arcs, {len(inst.demand):,} demand rows")
    for equity in (False, True):
        rows = []
        for name, solver in (("allocator network engine (auto)", "auto"), ("allocator LP engine (HiGHS)", "highs")):
            t, r = timed(lambda s=solver, e=equity: allocator.solve(inst, equity=e, solver=s, check=False), a.repeat)
            rows.append((f"{name} [{r.solver}]", t, r.objective))
        if not equity and not a.instance:
            from reference import networkx_reference, pulp_reference

            eq_inst = inst.with_policy(inst.policy.with_overrides({"equity": "off"}))
            rows.append(("PuLP + CBC (per-variable)", *timed(lambda i=eq_inst: pulp_reference(i), a.repeat)))
            rows.append(("networkx network_simplex", *timed(lambda i=eq_inst: networkx_reference(i), a.repeat)))
        print(f"\nequity {'on' if equity else 'off'}")
        print(f"{'path':<52}{'seconds':>10}{'ratio':>8}  objective agrees")
        base_t, base_o = rows[0][1], rows[0][2]
        for name, t, o in rows:
            agree = all(
                abs(o[k] - base_o[k]) <= 1e-6 * max(1.0, abs(base_o[k])) for k in ("weighted_shortfall", "route_cost")
            )
            print(f"{name:<52}{t:>10.3f}{t / base_t:>8.1f}  {'yes' if agree else 'NO'}")


if __name__ == "__main__":
    main()
