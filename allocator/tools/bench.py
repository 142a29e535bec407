"""The benchmark (``allocator bench``): allocator end to end against the raw solver
and a naive PuLP + CBC model of the same generated instance, measured in the same run.

For each scale the instance is generated (``allocator.generate``) into a work folder, then
every path runs in a fresh process of its own, so that its time and peak memory are its own:

``allocator``
    End to end with equity off: ``load`` (read and validate), ``solve`` (build, solve, plan
    tables, self-check; the build/solve split is ``Result.timings["build"]``; without the
    explanations, ``explain=False``) and ``write_outputs`` (the plan files).
``allocator-equity``
    The same with equity on (stage 2 of the objective).
``raw``
    One raw solver call on the same network: one OR-Tools ``SimpleMinCostFlow`` on
    int64 arrays that the parent prepared from ``allocator.model.build`` and saved with
    ``np.save``. Total: adding the arcs, solving and reading the flows; loading the arrays is
    reported as ``load_s`` but not counted.
``raw-family``
    The same network and arrays, solved as one ``SimpleMinCostFlow`` call per product
    family (families share no node but the shortfall node, so each gets a shortfall node of
    its own): the fastest raw solver use. Splitting the arrays by family counts in
    ``build_s``. ``vs_raw`` and the end-to-end target divide by the faster of ``raw`` and
    ``raw-family`` in the same run.
``command``
    The ``allocator solve FOLDER -o DIR`` command as a planner runs it: a fresh process,
    Python start and imports included, the policy's own equity setting, the plan written and
    the text report printed (into a pipe). Run up to 5 times (while the runs take under 10 s
    together); the total is the median wall clock, the peak the largest of the runs'.
``naive``
    One PuLP variable per arc (ship, serve, shortfall), one constraint per supply row, hub
    and demand row, solved by CBC. Total: building the arc tables and the PuLP model, solving
    (PuLP writes the model and reads CBC's solution) and reading the flows, starting from the
    loaded instance; loading is reported as ``load_s`` but not counted.

``raw``, ``raw-family`` and ``naive`` minimise one weighted sum, ``route cost + M x weighted shortfall``; M is
chosen (``shortfall_multiplier``) so that its optimum has the least weighted shortfall and,
among those plans, the least route cost: the equity-off lexicographic optimum. Every path
reports its weighted shortfall and route cost, and the table says whether they agree.

Times exclude imports (reported apart as ``import_s``); peak memory is the path's process's
own high-water mark (``own_peak_mib``), plus CBC's for ``naive`` (CBC runs as a child process
of PuLP's; the two peaks are added, an upper bound of what they held together).

This file also runs as a script in the children (``python -P benchmark.py --child ...``), so
the ``raw`` and ``raw-family`` children import numpy and OR-Tools only, not the package; hence the absolute
``allocator.*`` imports, made inside the functions that need them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

__all__ = [
    "ChildrenPeak",
    "PATHS",
    "SCALES",
    "compare",
    "naive_solution",
    "own_peak_mib",
    "parse_list",
    "raw_network",
    "render_json",
    "render_text",
    "run_allocator",
    "run_bench",
    "run_naive",
    "run_raw",
    "run_raw_family",
    "save_raw_arrays",
    "shortfall_multiplier",
]

SCALES = ("province", "prefecture", "county", "village")  # as allocator.generate.SCALES
PATHS = ("allocator", "allocator-equity", "command", "raw", "raw-family", "naive")
RAW_PATHS = ("raw", "raw-family")  # the same network; the ratios use the faster
REL_TOL = 1e-9  # objective agreement
INT_LIMIT = 2**62  # int64 magnitudes the raw network may reach, with room for a few sums
# The speed targets: (what, limit, "max" if the figure must not exceed it, the scale it is set for: None = every).
TARGETS = {
    "allocator_vs_raw": ("end to end vs the raw solver call", 1.3, "max", "county"),  # the fastest raw path's
    "naive_vs_allocator": ("naive PuLP + CBC time / allocator's", 15.0, "min", "county"),
    "memory_vs_raw": ("peak memory vs the raw solver's", 2.0, "max", "county"),
    "equity_vs_off": ("equity on / off time", 2.0, "max", None),
    "command_s": ("the allocator solve command's wall clock, Python start included", 1.0, "max", "province"),
    "village_s": ("allocator end to end", 60.0, "max", "village"),
    "village_equity_s": ("allocator end to end with equity", 60.0, "max", "village"),
}
COLUMNS = (
    "path",
    "arcs",
    "import_s",
    "load_s",
    "build_s",
    "solve_s",
    "write_s",
    "total_s",
    "peak_MiB",
    "vs_raw",
    "naive_x",
    "objective",
)


class RawUnsuitable(ValueError):
    """The instance's data cannot be put exactly on the int64 network of the raw path."""


def parse_list(text: str, allowed: tuple[str, ...], option: str) -> list[str]:
    """A comma list of names from ``allowed``, without repeats, in the order given."""
    from allocator.errors import BenchError  # here: a child imports this file before its timed import

    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise BenchError(f"{option}: expected a comma list of {', '.join(allowed)}")
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise BenchError(f"{option}: unknown value {unknown[0]!r}: expected a comma list of {', '.join(allowed)}")
    return list(dict.fromkeys(names))


# --------------------------------------------------------------------------------------------
# The parent: generate, prepare the raw arrays, run each path in its own process, compare.


def run_bench(
    scales: list[str],
    *,
    seed: int = 1,
    paths: list[str] | tuple[str, ...] = PATHS,
    timeout: float = 600.0,
    keep: str | None = None,
) -> dict:
    """Run the benchmark; return the report (``render_text`` / ``render_json`` print it)."""
    from allocator.errors import BenchError  # here: a child imports this file before its timed import

    if timeout <= 0:
        raise BenchError(f"--timeout {timeout:g}: expected a positive number of seconds")
    if seed < 0:
        raise BenchError(f"--seed {seed}: expected a whole number 0 or above")
    paths = [p for p in PATHS if p in paths]  # a fixed order: rows and ratios read the same every run
    report = {
        "date": datetime.date.today().isoformat(),
        "machine": machine_info(),
        "seed": seed,
        "timeout_s": timeout,
        "scales": [],
    }
    if keep is not None:
        root = Path(keep)
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise BenchError(f"--keep {root}: exists and is not an empty folder; expected a new folder")
        root.mkdir(parents=True, exist_ok=True)
        for scale in scales:
            report["scales"].append(bench_scale(scale, seed, paths, timeout, root / f"{scale}-seed{seed}"))
        return report
    for scale in scales:
        with tempfile.TemporaryDirectory(prefix=f"allocator-bench-{scale}-") as tmp:
            report["scales"].append(bench_scale(scale, seed, paths, timeout, Path(tmp)))
    return report


def bench_scale(scale: str, seed: int, paths: list[str], timeout: float, work: Path) -> dict:
    """One scale: the instance in ``work/instance``, then each path in a child process."""
    t = time.perf_counter()
    folder = generate_instance(scale, seed, work / "instance")
    wants_raw = any(p in RAW_PATHS for p in paths)
    network, raw_skip = prepare_network(folder, work / "raw" if wants_raw else None)
    prepared_s = time.perf_counter() - t
    load_average = os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # others' work slows the paths
    rows = []
    for path in paths:
        if path in RAW_PATHS and raw_skip:
            rows.append(_row(path, "skipped", raw_skip))
        elif path == "naive" and (why := naive_unavailable()):
            rows.append(_row(path, "skipped", why))
        else:
            rows.append(run_child(path, folder, work, timeout))
    for row in rows:
        row["arcs"] = network["ship_arcs"]
    compare(rows)
    return {
        "scale": scale,
        "seed": seed,
        "network": network,
        "prepared_s": round(prepared_s, 3),
        "load_average": load_average,
        "paths": rows,
        "targets": targets(rows, scale),
    }


def generate_instance(scale: str, seed: int, folder: Path) -> Path:
    """Write the generated instance of ``scale`` and ``seed`` to ``folder``."""
    from allocator.tools.generate import generate, write_instance

    write_instance(generate(scale, seed), folder, note=f"--scale {scale} --seed {seed}")
    return folder


def prepare_network(folder: Path, raw_dir: Path | None) -> tuple[dict, str | None]:
    """The network's sizes, and (with ``raw_dir``) the raw path's arrays saved there.

    Returns the sizes and, when the raw path cannot take the data exactly, why it is skipped.
    """
    from allocator.build.daily import build
    from allocator.inputs.validate import load

    instance = load(folder, overrides=["equity=off"])
    model = build(instance)
    network = {
        "ship_arcs": model.n_ship,
        "serve_arcs": model.n_serve,
        "demand_rows": len(model.demand),
        "supply_rows": len(model.supply),
        "hubs": len(model.hubs),
    }
    if raw_dir is None:
        return network, None
    try:
        save_raw_arrays(instance, model, raw_dir)
    except RawUnsuitable as exc:
        return network, f"skipped ({exc})"
    return network, None


def naive_unavailable() -> str | None:
    """Why the naive path cannot run here, or None."""
    if importlib.util.find_spec("pulp") is None:
        return "skipped (pip install pulp)"
    if importlib.util.find_spec("cbcbox") is None and shutil.which("cbc") is None:
        return 'skipped (no CBC binary: pip install "pulp[cbc]")'
    return None


def run_child(path: str, folder: Path, work: Path, timeout: float) -> dict:
    """Run one path in a fresh Python process; its row (status ``timeout`` or ``failed`` if so)."""
    result_file = work / f"result-{path}.json"
    result_file.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-P",
        str(Path(__file__).resolve()),
        "--child",
        path,
        "--instance",
        str(folder),
        "--work",
        str(work),
        "--result",
        str(result_file),
    ]
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])  # the children import this very package
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    scratch = work / "tmp"  # PuLP's model and solution files: removed with the work folder, even after a kill
    scratch.mkdir(exist_ok=True)
    env["TMPDIR"] = str(scratch)
    # A session of its own, so that a timeout also ends what the child started (CBC).
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _end(proc)
        return _row(path, "timeout", f"timeout (> {timeout:g} s)")
    except BaseException:  # Ctrl-C: the child's session does not get the terminal's signal
        _end(proc)
        raise
    if proc.returncode != 0 or not result_file.exists():
        last = (err or "").strip().splitlines()
        return _row(path, "failed", f"failed (exit {proc.returncode}: {last[-1] if last else 'no message'})")
    return json.loads(result_file.read_text(encoding="utf-8"))


MEASURES = (
    "import_s",
    "load_s",
    "build_s",
    "solve_s",
    "write_s",
    "total_s",
    "peak_mib",
    "weighted_shortfall",
    "route_cost",
)


def _row(path: str, status: str, detail: str = "", **fields) -> dict:
    """One path's row: every measurement (None where not measured), then ``fields``."""
    return {"path": path, "status": status, "detail": detail, **dict.fromkeys(MEASURES), **fields}


def _end(proc: subprocess.Popen) -> None:
    """Kill a child's whole session (the child and its CBC), and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def fastest_raw(rows: list[dict]) -> dict | None:
    """The faster of the ``raw`` and ``raw-family`` rows that ran (the first on a tie), or None."""
    ran = [row for row in rows if row["path"] in RAW_PATHS and row["status"] == "ok"]
    return min(ran, key=lambda row: row["total_s"]) if ran else None


def compare(rows: list[dict]) -> None:
    """Add the ratios (``vs_raw`` against the fastest raw path, ``naive_x``) and the objective
    agreement to every row."""
    ok = {row["path"]: row for row in rows if row["status"] == "ok"}
    raw, naive = fastest_raw(rows), ok.get("naive")
    reference = next((ok[p] for p in ("raw", "raw-family", "allocator", "naive", "allocator-equity") if p in ok), None)
    if raw and sum(p in ok for p in RAW_PATHS) > 1:
        raw["note"] = f"{raw.get('note', '')}; the fastest raw path: vs_raw and the targets divide by it"
    for row in rows:
        row["vs_raw"] = _ratio(row, raw)
        row["vs_raw_path"] = raw["path"] if raw else None
        row["naive_x"] = _ratio(naive, row)
        row["agreement"] = agreement(row, reference) if row["status"] == "ok" else None


def _ratio(num: dict | None, den: dict | None) -> float | None:
    """``num``'s total seconds over ``den``'s, when both paths ran."""
    if not num or not den or num["status"] != "ok" or den["status"] != "ok" or den["total_s"] <= 0:
        return None
    return num["total_s"] / den["total_s"]


def agreement(row: dict, reference: dict) -> str:
    """``same`` when the weighted shortfall and route cost equal the reference's (relative 1e-9),
    else the differences. With equity on only the weighted shortfall must agree: stage 2 may
    cost more route."""
    if row is reference:
        return "reference"
    parts = []
    for key, label in (("weighted_shortfall", "shortfall"), ("route_cost", "route cost")):
        diff = row[key] - reference[key]
        if abs(diff) > REL_TOL * max(1.0, abs(row[key]), abs(reference[key])):
            parts.append(f"{label} {diff:+.6g}")
    if row["path"] in ("allocator-equity", "command"):  # the command: the policy's equity
        if parts and parts[0].startswith("shortfall"):
            return ", ".join(parts)
        return "same shortfall" + (f"; {parts[0]} (equity)" if parts else "")
    return ", ".join(parts) or "same"


def targets(rows: list[dict], scale: str | None = None) -> dict:
    """Issue #5's figures from this run: value, limit and whether it is met (None: not measured)."""
    ok = {row["path"]: row for row in rows if row["status"] == "ok"}
    alloc, naive, equity, command = (ok.get(p) for p in ("allocator", "naive", "allocator-equity", "command"))
    raw = fastest_raw(rows)
    values = {
        "allocator_vs_raw": _ratio(alloc, raw),
        "naive_vs_allocator": _ratio(naive, alloc),
        "memory_vs_raw": alloc["peak_mib"] / raw["peak_mib"] if alloc and raw else None,
        "equity_vs_off": _ratio(equity, alloc),
        "command_s": command["total_s"] if command else None,
        "village_s": alloc["total_s"] if alloc else None,
        "village_equity_s": equity["total_s"] if equity else None,
    }
    out = {}
    for key, (what, limit, kind, where) in TARGETS.items():
        v = values[key] if where is None or where == scale else None
        met = None if v is None else (v <= limit if kind == "max" else v >= limit)
        if key in ("allocator_vs_raw", "memory_vs_raw") and raw:
            what = f"{what} (fastest raw: {raw['path']})"
        if where:
            what = f"{where}: {what}"
        unit = " s" if key.endswith("_s") else "x"
        out[key] = {
            "what": what,
            "value": v,
            "unit": unit,
            "target": f"{'<=' if kind == 'max' else '>='} {limit:g}{unit}",
            "met": met,
        }
    return out


def machine_info() -> dict:
    """Platform, cores, total memory, Python and the solver packages' versions."""
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    versions = {}
    for package in ("ortools", "highspy", "pulp"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "versions": versions,
    }


# --------------------------------------------------------------------------------------------
# Output.


def render_json(report: dict) -> str:
    """The report as JSON: the same figures as the text, unrounded."""
    return json.dumps(report, indent=2, ensure_ascii=False)


def machine_header(command: str, report: dict) -> str:
    """The first line of a benchmark's text: the command, the date and the machine."""
    m = report["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    memory = f"{m['memory_gib']} GiB" if m["memory_gib"] is not None else "memory unknown"
    return (
        f"# {command} | {report['date']} | {m['platform']} | {m['cpu_count']} cores | {memory} | "
        f"Python {m['python']} | {versions}"
    )


def render_text(report: dict) -> str:
    """The header lines, then per scale the network, the table, the objective and the targets."""
    lines = [
        machine_header("allocator bench", report),
        f"# seed {report['seed']}; each path in a fresh process; seconds without imports; "
        f"timeout {report['timeout_s']:g} s per path",
    ]
    for block in report["scales"]:
        lines += [""] + _scale_text(block)
    return "\n".join(lines) + "\n"


def _scale_text(block: dict) -> list[str]:
    n = block["network"]
    lines = [
        f"scale {block['scale']}: {n['ship_arcs']:,} route-product arcs, {n['serve_arcs']:,} serve arcs, "
        f"{n['supply_rows']:,} supply rows, {n['hubs']:,} hubs, {n['demand_rows']:,} demand rows "
        f"(generated and prepared in {block['prepared_s']:.1f} s)"
    ]
    if block["load_average"] is not None:
        lines.append(f"load average (1 min) before the paths: {block['load_average']:.2f}")
    table = [list(COLUMNS)] + [_cells(row) for row in block["paths"]]
    widths = [max(len(r[i]) for r in table if i < len(r)) for i in range(len(COLUMNS) - 1)]
    for r in table:
        head = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:-1], widths[1:])]
        lines.append("  ".join(head + [r[-1]]).rstrip())
    ref = next((row for row in block["paths"] if row.get("agreement") == "reference"), None)
    if ref:
        lines.append(
            f"objective ({ref['path']}): weighted shortfall {ref['weighted_shortfall']:,.6f}, "
            f"route cost {ref['route_cost']:,.6f}"
        )
    for row in block["paths"]:
        if row.get("note"):
            lines.append(f"{row['path']}: {row['note']}")
    for t in block["targets"].values():
        if t["value"] is not None:
            lines.append(
                f"target: {t['what']} {t['value']:.2f}{t['unit']} ({t['target']}): {'met' if t['met'] else 'NOT met'}"
            )
    return lines


def _cells(row: dict) -> list[str]:
    if row["status"] != "ok":
        return [row["path"], f"{row['arcs']:,}"] + [""] * (len(COLUMNS) - 3) + [row["detail"]]

    def sec(key):
        return "-" if row.get(key) is None else f"{row[key]:.3f}"

    def ratio(key):
        return "-" if row.get(key) is None else f"{row[key]:.2f}"

    return [
        row["path"],
        f"{row['arcs']:,}",
        sec("import_s"),
        sec("load_s"),
        sec("build_s"),
        sec("solve_s"),
        sec("write_s"),
        sec("total_s"),
        f"{row['peak_mib']:.1f}",
        ratio("vs_raw"),
        ratio("naive_x"),
        row["agreement"],
    ]


# --------------------------------------------------------------------------------------------
# The raw network: the model as one int64 min-cost flow with a weighted-sum objective.


def decimal_scale(values, what: str):
    """``values x 10**k`` as int64 and ``10**k``, as the network engine scales them (``netflow``)."""
    from allocator.engine.network import Unsuitable
    from allocator.engine.network import decimal_scale as engine_scale

    try:
        return engine_scale(values, what)
    except Unsuitable as exc:
        raise RawUnsuitable(str(exc)) from None


def shortfall_multiplier(model, family_of_product: dict) -> int:
    """M, in integer cost units per integer weight unit, for ``route cost + M x weighted shortfall``.

    With integral data every vertex of the network LP is integral. If a plan had more than
    the least weighted shortfall, the difference to an optimal plan would split into
    integral cycles, one of which lowers the weighted shortfall by at least 1 per unit
    (integer weights). Such a cycle runs inside one product family (families share no
    node but the shortfall node, which a simple cycle visits once) and passes each of the
    family's supply nodes at most once, so it changes the route cost by at most
    ``2 x supply rows of the family x largest route cost`` per unit. M one above that makes
    every such cycle pay, so the weighted-sum optimum has the least weighted shortfall,
    and among those plans the least route cost.
    """
    import numpy as np

    costs, _ = decimal_scale(model.ship["cost"].to_numpy(float), "route costs")
    family = model.ship["product"].map(family_of_product)
    supply_family = model.supply["product"].map(family_of_product)
    largest = 0
    for fam, rows in supply_family.value_counts().items():
        fam_costs = costs[(family == fam).to_numpy()]
        largest = max(largest, int(rows) * int(np.abs(fam_costs).max(initial=0)))
    return 2 * largest + 1


def raw_network(instance, model) -> dict:
    """The model as int64 arrays for ``SimpleMinCostFlow``, and float arrays to read the answer.

    Nodes: supply rows, hubs, demand rows (the model's row order), then one shortfall node
    ``Z``. Arcs: ship (supply -> hub, route cost), serve (hub -> demand row), shortfall
    (``Z`` -> demand row, cost ``M x weight``) and unused (supply -> ``Z``). Supplies: the
    supply rows' quantities, minus the demand rows' quantities, and ``Z`` the difference,
    so the problem is always feasible. Quantities are scaled to whole numbers per product
    family (families share no arc, so each keeps its own optimum), costs and weights each
    by one power of ten.

    Returns ``tail, head, capacity, cost, supply``; ``route_per_unit`` and
    ``shortfall_per_unit``, each arc's route cost and weighted shortfall per unit of flow in
    the instance's units (``flows @ route_per_unit`` is the route cost); ``node_family``,
    each node's product family as a number (``Z``: -1), for ``run_raw_family``; and
    ``scales``: M, the route costs' and the weights' powers of ten.
    """
    import numpy as np

    family_of_product = dict(zip(instance.products["product"], instance.products["family"]))
    ship, serve, demand, supply = model.ship, model.serve, model.demand, model.supply
    n_ship, n_serve, n_dem, n_sup, n_hub = model.n_ship, model.n_serve, len(demand), len(supply), len(model.hubs)
    z = n_sup + n_hub + n_dem

    ship_q, sup_q, dem_q = _family_units(model, family_of_product)
    cap = model.col_upper[:n_ship]
    s = np.round(supply["quantity"].to_numpy(float) * sup_q).astype(np.int64)
    q = np.round(demand["quantity"].to_numpy(float) * dem_q).astype(np.int64)
    big = int(s.sum())  # no arc carries more than all the supply
    ship_cap = np.full(n_ship, big, dtype=np.int64)
    finite = np.isfinite(cap)
    ship_cap[finite] = np.minimum(np.round(cap[finite] * ship_q[finite]).astype(np.int64), big)

    costs, cost_scale = decimal_scale(ship["cost"].to_numpy(float), "route costs")
    weights, weight_scale = decimal_scale(demand["weight"].to_numpy(float), "weights")
    multiplier = shortfall_multiplier(model, family_of_product)
    short_cost = multiplier * weights
    # OR-Tools scales costs by about the number of nodes; the objective must fit as well.
    n_nodes = z + 1
    objective_bound = float(multiplier) * float(weights.astype(float) @ q.astype(float)) + float(
        np.abs(costs).max(initial=0)
    ) * float(s.sum())
    if float(short_cost.max(initial=0)) * (n_nodes + 1) >= INT_LIMIT or objective_bound >= INT_LIMIT:
        raise RawUnsuitable(
            f"costs up to {int(short_cost.max(initial=0))} (M = {multiplier}) on {n_nodes} nodes do not fit int64"
        )

    # Node numbers from the model's tables: supply rows, then hubs, then demand rows.
    ship_tail = _positions(ship, supply, ["source", "product"])
    ship_head = n_sup + _positions(ship, model.hubs, ["region", "product"])
    serve_tail = n_sup + _positions(serve, model.hubs, ["region", "product"])
    serve_head = n_sup + n_hub + serve["demand_idx"].to_numpy(np.int64)
    sup_nodes = np.arange(n_sup)
    tail = np.concatenate([ship_tail, serve_tail, np.full(n_dem, z), sup_nodes])
    head = np.concatenate([ship_head, serve_head, n_sup + n_hub + np.arange(n_dem), np.full(n_sup, z)])
    capacity = np.concatenate([ship_cap, np.full(n_serve, big, dtype=np.int64), q, s])
    cost = np.concatenate([costs, np.zeros(n_serve, dtype=np.int64), short_cost, np.zeros(n_sup, dtype=np.int64)])
    node_supply = np.concatenate([s, np.zeros(n_hub, dtype=np.int64), -q, [int(q.sum() - s.sum())]])
    route_per_unit = np.concatenate([ship["cost"].to_numpy(float) / ship_q, np.zeros(n_serve + n_dem + n_sup)])
    shortfall_per_unit = np.concatenate(
        [np.zeros(n_ship + n_serve), demand["weight"].to_numpy(float) / dem_q, np.zeros(n_sup)]
    )
    families = sorted(set(family_of_product.values()) | set(demand["family"]))
    number = {fam: i for i, fam in enumerate(families)}
    node_family = np.concatenate(
        [
            supply["product"].map(family_of_product).map(number).to_numpy(np.int64),
            model.hubs["product"].map(family_of_product).map(number).to_numpy(np.int64),
            demand["family"].map(number).to_numpy(np.int64),
            [-1],
        ]
    )
    return {
        "tail": tail.astype(np.int32),
        "head": head.astype(np.int32),
        "capacity": capacity.astype(np.int64),
        "cost": cost.astype(np.int64),
        "supply": node_supply.astype(np.int64),
        "route_per_unit": route_per_unit,
        "shortfall_per_unit": shortfall_per_unit,
        "node_family": node_family.astype(np.int32),
        "scales": np.array([multiplier, cost_scale, weight_scale], dtype=np.int64),
    }


def _family_units(model, family_of_product: dict):
    """Units per ship arc, supply row and demand row: the power of ten that makes the
    quantities and route capacities of its product family whole numbers."""
    import numpy as np

    ship_fam = model.ship["product"].map(family_of_product).to_numpy()
    sup_fam = model.supply["product"].map(family_of_product).to_numpy()
    dem_fam = model.demand["family"].to_numpy()
    cap = model.col_upper[: model.n_ship]
    unit = {}
    for fam in sorted(set(dem_fam) | set(sup_fam)):
        values = np.concatenate(
            [
                model.supply["quantity"].to_numpy(float)[sup_fam == fam],
                model.demand["quantity"].to_numpy(float)[dem_fam == fam],
                cap[(ship_fam == fam) & np.isfinite(cap)],
            ]
        )
        unit[fam] = decimal_scale(values, f"quantities of family {fam!r}")[1]
    return tuple(np.array([unit[f] for f in fams], dtype=np.int64) for fams in (ship_fam, sup_fam, dem_fam))


def save_raw_arrays(instance, model, folder: str | Path) -> Path:
    """``raw_network``'s arrays as ``folder/NAME.npy``, for ``run_raw`` and ``run_raw_family``."""
    import numpy as np

    out = Path(folder)
    arrays = raw_network(instance, model)
    out.mkdir(parents=True, exist_ok=True)
    for name, values in arrays.items():
        np.save(out / f"{name}.npy", values)
    return out


def _positions(frame, table, keys: list[str]):
    """The row number in ``table`` of each row of ``frame``, matched on ``keys``."""
    import pandas as pd

    where = pd.MultiIndex.from_frame(table[keys]).get_indexer(pd.MultiIndex.from_frame(frame[keys]))
    if (where < 0).any():
        raise RawUnsuitable(f"an arc's {'/'.join(keys)} is not a node of the model")
    return where


# --------------------------------------------------------------------------------------------
# The paths, as the children run them. Each returns its row: seconds, objective terms, notes.


def run_allocator(folder: str | Path, work: str | Path, *, equity: bool) -> dict:
    """allocator end to end: load and validate, solve (build + solve + plan + check), write the plan."""
    t = time.perf_counter()
    from allocator.inputs.validate import load
    from allocator.pipeline.run import solve
    from allocator.report.folder import write_outputs

    import_s = time.perf_counter() - t
    t = time.perf_counter()
    instance = load(folder, overrides=[f"equity={'on' if equity else 'off'}"])
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    result = solve(instance, explain=False)  # the plan; the explanations are timed in the command path
    solve_total = time.perf_counter() - t
    if result.status != "optimal":
        raise RuntimeError(f"allocator stopped with status {result.status}")
    t = time.perf_counter()
    write_outputs(result, Path(work) / f"plan-{'equity' if equity else 'no-equity'}")
    write_s = time.perf_counter() - t
    build_s = result.timings["build"]
    stages = {k: round(v, 4) for k, v in result.timings.items()}
    note = f"engine {result.solver}; solve() stages: " + ", ".join(f"{k} {v:.3f} s" for k, v in stages.items())
    return _row(
        "allocator-equity" if equity else "allocator",
        "ok",
        import_s=import_s,
        load_s=load_s,
        build_s=build_s,
        solve_s=solve_total - build_s,
        write_s=write_s,
        total_s=load_s + solve_total + write_s,
        weighted_shortfall=float(result.objective["weighted_shortfall"]),
        route_cost=float(result.objective["route_cost"]),
        stages_s=stages,
        note=note,
    )


def run_command(folder: str | Path, work: str | Path) -> dict:
    """The ``allocator solve`` command in fresh processes: the median wall clock of up to 5 runs."""
    import statistics

    exe = Path(sys.executable).with_name("allocator")
    installed = exe.exists()
    out = Path(work) / "plan-command"
    cmd = ([str(exe)] if installed else [sys.executable, "-m", "allocator"]) + ["solve", str(folder), "-o", str(out)]
    times: list[float] = []
    with ChildrenPeak() as peak:
        while len(times) < 5 and sum(times) < 10.0:
            t = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            times.append(time.perf_counter() - t)
            if proc.returncode != 0:
                last = (proc.stderr or proc.stdout).strip().splitlines()
                raise RuntimeError(f"exit {proc.returncode}: {last[-1] if last else 'no message'}")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    runs = ", ".join(f"{x:.3f}" for x in times)
    note = (
        f"`{'allocator' if installed else 'python -m allocator'} solve FOLDER -o DIR`, equity "
        f"{'off' if summary['objective']['equity'] == 'off' else 'on'} (the policy's); wall clock of each run, "
        f"Python start included: {runs} s; the median counts"
    )
    return _row(
        "command",
        "ok",
        total_s=statistics.median(times),
        command_peak_mib=peak.mib,
        weighted_shortfall=float(summary["objective"]["weighted_shortfall"]),
        route_cost=float(summary["objective"]["route_cost"]),
        note=note,
    )


def run_raw(arrays: str | Path) -> dict:
    """One ``SimpleMinCostFlow`` call on the saved arrays: add the arcs, solve, read the flows."""
    t = time.perf_counter()
    import numpy as np
    from ortools.graph.python import min_cost_flow

    import_s = time.perf_counter() - t
    t = time.perf_counter()
    a = {
        name: np.load(Path(arrays) / f"{name}.npy")
        for name in ("tail", "head", "capacity", "cost", "supply", "route_per_unit", "shortfall_per_unit")
    }
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = flow.add_arcs_with_capacity_and_unit_cost(a["tail"], a["head"], a["capacity"], a["cost"])
    flow.set_nodes_supplies(np.arange(len(a["supply"]), dtype=np.int32), a["supply"])
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    status = flow.solve()
    flows = flow.flows(arcs)
    solve_s = time.perf_counter() - t
    if status != flow.OPTIMAL:
        raise RuntimeError(f"SimpleMinCostFlow stopped with status {status}")
    return _row(
        "raw",
        "ok",
        import_s=import_s,
        load_s=load_s,
        build_s=build_s,
        solve_s=solve_s,
        total_s=build_s + solve_s,
        weighted_shortfall=float(flows @ a["shortfall_per_unit"]),
        route_cost=float(flows @ a["route_per_unit"]),
        nodes=len(a["supply"]),
        graph_arcs=len(a["tail"]),
        note=f"OR-Tools SimpleMinCostFlow, {len(a['supply']):,} nodes, {len(a['tail']):,} arcs",
    )


def run_raw_family(arrays: str | Path) -> dict:
    """One ``SimpleMinCostFlow`` call per product family on the saved arrays, each family with a
    shortfall node of its own: split the arcs, add them, solve, read the flows."""
    t = time.perf_counter()
    import numpy as np
    from ortools.graph.python import min_cost_flow

    import_s = time.perf_counter() - t
    t = time.perf_counter()
    a = {
        name: np.load(Path(arrays) / f"{name}.npy")
        for name in (
            "tail",
            "head",
            "capacity",
            "cost",
            "supply",
            "route_per_unit",
            "shortfall_per_unit",
            "node_family",
        )
    }
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    tail, head, fam = a["tail"], a["head"], a["node_family"]
    n_fam = int(fam.max(initial=-1)) + 1
    # Each node's number within its family (Z: -1); the family's own Z comes after its nodes.
    node_order = np.argsort(fam, kind="stable")
    node_start = np.searchsorted(fam[node_order], np.arange(n_fam + 1))  # fam -1 (Z) sorts first
    local = np.empty(len(fam), dtype=np.int32)
    local[node_order] = np.arange(len(fam), dtype=np.int32) - node_start[np.maximum(fam[node_order], 0)]
    nodes_per_fam = np.diff(node_start)
    arc_fam = np.where(fam[tail] >= 0, fam[tail], fam[head])  # an arc touching Z: its other end's
    arc_order = np.argsort(arc_fam, kind="stable")
    arc_start = np.searchsorted(arc_fam[arc_order], np.arange(n_fam + 1))
    z_of_arc = nodes_per_fam[arc_fam]
    local_tail = np.where(fam[tail] >= 0, local[tail], z_of_arc).astype(np.int32)[arc_order]
    local_head = np.where(fam[head] >= 0, local[head], z_of_arc).astype(np.int32)[arc_order]
    capacity, cost = a["capacity"][arc_order], a["cost"][arc_order]
    supply = a["supply"][node_order]
    build_s = time.perf_counter() - t
    solve_s = 0.0
    flows = np.zeros(len(tail), dtype=np.int64)
    solved = 0
    for f in range(n_fam):
        t = time.perf_counter()
        lo, hi = arc_start[f], arc_start[f + 1]
        if lo == hi:  # a family without supply or demand rows: nothing to solve
            continue
        solved += 1
        own = supply[node_start[f] : node_start[f + 1]]
        flow = min_cost_flow.SimpleMinCostFlow()
        arcs = flow.add_arcs_with_capacity_and_unit_cost(
            local_tail[lo:hi], local_head[lo:hi], capacity[lo:hi], cost[lo:hi]
        )
        flow.set_nodes_supplies(np.arange(len(own) + 1, dtype=np.int32), np.append(own, -own.sum()))
        build_s += time.perf_counter() - t
        t = time.perf_counter()
        status = flow.solve()
        flows[arc_order[lo:hi]] = flow.flows(arcs)
        solve_s += time.perf_counter() - t
        if status != flow.OPTIMAL:
            raise RuntimeError(f"SimpleMinCostFlow stopped with status {status} on family {f}")
    return _row(
        "raw-family",
        "ok",
        import_s=import_s,
        load_s=load_s,
        build_s=build_s,
        solve_s=solve_s,
        total_s=build_s + solve_s,
        weighted_shortfall=float(flows @ a["shortfall_per_unit"]),
        route_cost=float(flows @ a["route_per_unit"]),
        families=solved,
        note=f"OR-Tools SimpleMinCostFlow, one call per family: {solved} calls, "
        f"{len(fam) - 1 + solved:,} nodes, {len(tail):,} arcs",
    )


def run_naive(folder: str | Path) -> dict:
    """PuLP + CBC, one variable per arc, from the loaded instance: build, solve, read the flows."""
    t = time.perf_counter()
    importlib.import_module("pulp")  # here, so that its import stays out of the timings
    from allocator.inputs.validate import load

    import_s = time.perf_counter() - t
    t = time.perf_counter()
    instance = load(folder, overrides=["equity=off"])
    load_s = time.perf_counter() - t
    return _row("naive", "ok", import_s=import_s, load_s=load_s, **naive_solution(instance))


def naive_solution(instance) -> dict:
    """Build the arc tables and the PuLP model, solve with CBC, read the flows: seconds and objective."""
    import numpy as np
    import pulp

    from allocator.build.daily import build

    t = time.perf_counter()
    model = build(instance)
    problem, ship, short = naive_problem(instance, model)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    with ChildrenPeak() as cbc:
        status = problem.solve(_cbc())
    x_ship = np.array([v.varValue or 0.0 for v in ship])
    x_short = np.array([v.varValue or 0.0 for v in short])
    solve_s = time.perf_counter() - t
    if pulp.LpStatus[status] != "Optimal":
        raise RuntimeError(f"CBC stopped with status {pulp.LpStatus[status]}")
    n_vars = len(problem.variables())
    return {
        "build_s": build_s,
        "solve_s": solve_s,
        "total_s": build_s + solve_s,
        "weighted_shortfall": float(x_short @ model.demand["weight"].to_numpy(float)),
        "route_cost": float(x_ship @ model.ship["cost"].to_numpy(float)),
        "variables": n_vars,
        "cbc_peak_mib": cbc.mib,
        "note": f"PuLP {pulp.__version__} + CBC, {n_vars:,} variables; peak_MiB: Python + CBC ({cbc.mib:.1f})",
    }


def naive_problem(instance, model):
    """The PuLP model: ``(problem, ship variables, shortfall variables)``.

    One variable per ship arc, serve arc and demand row (its shortfall); supply rows
    ``shipped <= quantity``, hubs ``in = out``, demand rows ``served + short = quantity``;
    objective ``route cost + M' x weighted shortfall`` with ``M'`` the raw path's M in the
    instance's units.
    """
    import pulp

    family_of_product = dict(zip(instance.products["product"], instance.products["family"]))
    _, cost_scale = decimal_scale(model.ship["cost"].to_numpy(float), "route costs")
    _, weight_scale = decimal_scale(model.demand["weight"].to_numpy(float), "weights")
    multiplier = shortfall_multiplier(model, family_of_product) * weight_scale / cost_scale

    problem = pulp.LpProblem("naive", pulp.LpMinimize)
    ship = [
        problem.add_variable(f"ship_{j}", 0, None if cap == float("inf") else float(cap))
        for j, cap in enumerate(model.col_upper[: model.n_ship])
    ]
    serve = [problem.add_variable(f"serve_{k}", 0) for k in range(model.n_serve)]
    short = [problem.add_variable(f"short_{i}", 0) for i in range(len(model.demand))]

    ship_by_supply = model.ship.groupby(["source", "product"]).indices
    for rec in model.supply.itertuples(index=False):
        problem += pulp.lpSum(ship[j] for j in ship_by_supply.get((rec.source, rec.product), [])) <= rec.quantity
    ship_by_hub = model.ship.groupby(["region", "product"]).indices
    serve_by_hub = model.serve.groupby(["region", "product"]).indices
    for hub in model.hubs.itertuples(index=False):
        key = (hub.region, hub.product)
        problem += pulp.lpSum(ship[j] for j in ship_by_hub.get(key, [])) == pulp.lpSum(
            serve[k] for k in serve_by_hub.get(key, [])
        )
    serve_by_demand = model.serve.groupby("demand_idx").indices
    for i, quantity in enumerate(model.demand["quantity"]):
        problem += pulp.lpSum(serve[k] for k in serve_by_demand.get(i, [])) + short[i] == quantity
    problem += pulp.LpAffineExpression(
        list(zip(ship, model.ship["cost"])) + [(v, multiplier * w) for v, w in zip(short, model.demand["weight"])]
    )
    return problem, ship, short


def _cbc():
    """CBC from the ``cbcbox`` wheel (``pulp[cbc]``) by its path, else ``cbc`` on PATH."""
    import pulp

    try:
        import cbcbox
    except ImportError:
        return pulp.COIN_CMD(msg=False, path=shutil.which("cbc"))
    return pulp.COIN_CMD(msg=False, path=cbcbox.cbc_bin_path())


# --------------------------------------------------------------------------------------------
# The child process.


def own_peak_mib() -> float:
    """Peak resident memory of this process, in MiB.

    On Linux ``VmHWM`` of ``/proc/self/status``, not ``ru_maxrss``: the kernel carries a
    parent's high-water mark over fork and exec into the child's ``ru_maxrss``, so a child
    of the benchmark (which holds the instance) would report at least the parent's peak.
    """
    try:
        return _vm_hwm_kib("self") / 2**10
    except (OSError, ValueError):
        per_mib = 2**20 if sys.platform == "darwin" else 2**10  # ru_maxrss: bytes on macOS, KiB elsewhere
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / per_mib


def _vm_hwm_kib(pid: str) -> int:
    """``VmHWM`` (peak resident memory, KiB) of a process, from ``/proc/PID/status``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise ValueError(f"no VmHWM for process {pid}")


class ChildrenPeak:
    """Peak resident memory (MiB) of this process's child processes (CBC) while in the block.

    A thread reads each child's ``VmHWM`` every 20 ms (a high-water mark: a later reading
    holds every earlier peak). Without ``/proc/PID/task/TID/children``: ``ru_maxrss`` of the
    finished children, which may include this process's own peak (see ``own_peak_mib``).
    """

    def __init__(self) -> None:
        self.mib = 0.0
        self._tasks = Path(f"/proc/{os.getpid()}/task")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> ChildrenPeak:
        if (self._tasks / str(os.getpid()) / "children").exists():
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()
        else:
            per_mib = 2**20 if sys.platform == "darwin" else 2**10
            self.mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / per_mib

    def _poll(self) -> None:
        while not self._stop.wait(0.02):
            try:
                pids = [pid for task in self._tasks.iterdir() for pid in (task / "children").read_text().split()]
            except OSError:  # a thread ended meanwhile
                continue
            for pid in pids:
                try:
                    self.mib = max(self.mib, _vm_hwm_kib(pid) / 2**10)
                except (OSError, ValueError):  # the child ended meanwhile, or is a zombie
                    continue


def _child_main(argv: list[str]) -> int:
    """Run one path and write its row as JSON (``--result``); on failure, the message on stderr."""
    p = argparse.ArgumentParser(prog="allocator-bench-child")
    p.add_argument("--child", choices=PATHS, required=True)
    p.add_argument("--instance", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--result", required=True)
    a = p.parse_args(argv)
    try:
        if a.child == "raw":
            row = run_raw(Path(a.work) / "raw")
        elif a.child == "raw-family":
            row = run_raw_family(Path(a.work) / "raw")
        elif a.child == "naive":
            row = run_naive(a.instance)
        elif a.child == "command":
            row = run_command(a.instance, a.work)
        else:
            row = run_allocator(a.instance, a.work, equity=a.child == "allocator-equity")
    except Exception as exc:  # reported in the table as "failed (...)", not as a traceback
        print(f"{type(exc).__name__}: {exc}".replace("\n", " "), file=sys.stderr)
        return 1
    # The command's peak is its processes' own; naive's is its own plus CBC's.
    row["peak_mib"] = (
        row.pop("command_peak_mib") if "command_peak_mib" in row else own_peak_mib() + (row.get("cbc_peak_mib") or 0.0)
    )
    Path(a.result).write_text(json.dumps(row), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
