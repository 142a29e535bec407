"""Two-level (hierarchical) solve against the flat solve on generated national instances.

    python bench/hierarchy_gap.py                        # prefecture and county scales, seed 0
    python bench/hierarchy_gap.py --scales village --timeout 300

For each scale: the instance is generated and validated once (not timed), then each solve runs
in its own process, killed (with its worker processes) after ``--timeout`` seconds: the flat
``allocator.solve``, and ``solve_hierarchical`` with 1 and 2 workers. Printed: date, machine,
seconds of each solve (wall time of the call, from the instance in memory to the verified
plan), the weighted shortfall and route cost of each plan, and the gaps of the two-level plan
(relative to the flat optimum, and to the level-1 lower bound, which needs no flat solve).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import multiprocessing
import os
import pickle
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path

import allocator


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass
    return "? GiB"


def _child(path: str, kind: str, workers: int, cap_gib: float, kwargs: dict, out) -> None:
    os.setsid()  # own process group: a timeout kills this process and its workers together
    if cap_gib > 0:  # address-space cap, inherited by the workers: a MemoryError, not the OOM killer
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (int(cap_gib * 2**30), int(cap_gib * 2**30)))
    from allocator.pipeline.hierarchy import solve_hierarchical

    with open(path, "rb") as fh:
        inst = pickle.load(fh)
    t = time.perf_counter()
    try:
        if kind == "flat":
            res = allocator.solve(inst, **kwargs)
            extra = {}
        else:
            res = solve_hierarchical(inst, workers=workers, **kwargs)
            extra = {
                "bound": float(res.objective["level1_weighted_shortfall"]),
                "level1_s": res.timings["level1_solve"],
                "level2_s": res.timings["level2_solve"],
            }
    except BaseException as exc:  # MemoryError, BrokenProcessPool (a worker hit the cap), SolverError
        out.put(
            {
                "error": f"failed after {time.perf_counter() - t:.0f} s: {type(exc).__name__}: "
                f"{' | '.join(str(exc).splitlines()[:3])}"[:400]
            }
        )
        return
    seconds = time.perf_counter() - t
    out.put(
        {
            "seconds": seconds,
            "status": res.status,
            "w": float(res.objective["weighted_shortfall"]),
            "c": float(res.objective["route_cost"]),
            **extra,
        }
    )


def _run(path: str, kind: str, workers: int, timeout: float, cap_gib: float, kwargs: dict) -> dict:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_child, args=(path, kind, workers, cap_gib, kwargs, out))
    t = time.perf_counter()
    proc.start()
    result = None
    while time.perf_counter() - t < timeout:
        try:
            result = out.get(timeout=1.0)
            break
        except Exception:  # queue.Empty
            if not proc.is_alive():
                break
    if result is None:
        if proc.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.join()
            return {"error": f"killed after {timeout:.0f} s (did not finish)"}
        proc.join()
        return {"error": f"failed (exit code {proc.exitcode})"}
    proc.join()
    return result


def _fmt(r: dict) -> str:
    if "error" in r:
        return r["error"]
    return f"{r['seconds']:.1f} s ({r['status']}): weighted shortfall {r['w']:,.6g}, route cost {r['c']:,.6g}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--scales", nargs="+", default=["prefecture", "county"], choices=["province", "prefecture", "county", "village"]
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=300.0, help="seconds before a solve is killed (default 300)")
    p.add_argument("--skip-flat", action="store_true", help="do not run the flat solve")
    p.add_argument(
        "--workers",
        type=int,
        nargs="*",
        default=[1, 2],
        help="worker counts of the two-level runs (default 1 2; none: no two-level run)",
    )
    p.add_argument("--equity", choices=["on", "off"], default="on", help="policy equity switch (default on)")
    p.add_argument("--solver", default="auto", help="solver argument of allocator.solve (default auto)")
    p.add_argument(
        "--memory-cap",
        type=float,
        default=10.0,
        metavar="GIB",
        help="address-space limit of each solving process (default 10; 0: none)",
    )
    args = p.parse_args(argv)
    kwargs = {"equity": args.equity == "on", "solver": args.solver}

    from allocator.build.daily import route_table
    from allocator.tools.generate import generate

    print(
        f"date {datetime.date.today().isoformat()}; machine {platform.machine()}, {os.cpu_count()} cores "
        f"({_cpu()}), {_memory_gib()}, {platform.system()} {platform.release()}, Python "
        f"{platform.python_version()}; equity {args.equity}, solver {args.solver}; timeout {args.timeout:.0f} s "
        f"and address space {args.memory_cap:g} GiB per solving process",
        flush=True,
    )
    for scale in args.scales:
        print(
            f"load average at start of {scale}: {os.getloadavg()[0]:.1f} (other processes share the cores)", flush=True
        )
        t = time.perf_counter()
        inst = allocator.from_frames(**generate(scale, args.seed), name=f"{scale}-{args.seed}")
        arcs = len(route_table(inst))
        tops = inst.regions["parent"].replace("", None).nunique()
        print(
            f"\n{scale} (seed {args.seed}): {len(inst.regions):,} regions under {tops} top regions, "
            f"{len(inst.sources):,} sources, {len(inst.products)} products, {len(inst.demand):,} demand rows, "
            f"{arcs:,} route-product arcs (generated and validated in {time.perf_counter() - t:.0f} s, not "
            "counted below)",
            flush=True,
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "instance.pkl")
            with open(path, "wb") as fh:
                pickle.dump(inst, fh, protocol=pickle.HIGHEST_PROTOCOL)
            flat = (
                {"error": "skipped"} if args.skip_flat else _run(path, "flat", 1, args.timeout, args.memory_cap, kwargs)
            )
            print(f"  flat:                  {_fmt(flat)}", flush=True)
            two = {}
            for workers in args.workers:
                two[workers] = r = _run(path, "two", workers, args.timeout, args.memory_cap, kwargs)
                split = "" if "error" in r else f" [level 1 {r['level1_s']:.1f} s, level 2 {r['level2_s']:.1f} s]"
                print(f"  two-level, {workers} worker{'s' if workers > 1 else ' '}: {_fmt(r)}{split}", flush=True)
        done = [r for r in two.values() if "error" not in r]
        if not done:
            continue
        r = done[0]
        bound_gap = (r["w"] - r["bound"]) / r["w"] if r["w"] > 0 else 0.0
        print(
            f"  level-1 lower bound {r['bound']:,.6g}: two-level weighted shortfall at most {bound_gap:.4%} "
            "above the flat optimum",
            flush=True,
        )
        if "error" not in flat:
            w_gap = (r["w"] - flat["w"]) / flat["w"] if flat["w"] > 0 else 0.0
            c_gap = (r["c"] - flat["c"]) / flat["c"] if flat["c"] > 0 else 0.0
            print(f"  gap vs flat: weighted shortfall {w_gap:+.4%}, route cost {c_gap:+.4%}", flush=True)
            if r["w"] < flat["w"] - 1e-6 * max(1.0, flat["w"]):
                print("  ERROR: the two-level plan beats the flat optimum", flush=True)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
