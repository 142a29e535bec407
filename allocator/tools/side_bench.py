"""What the side constraints cost (``allocator bench --side``): the daily model with shared
capacity, commitments, minimum lots and destination limits, timed against the plain network
model of the same generated instance, in one process, in the same run.

For each scale the instance is generated (``allocator.generate``) and solved as it is
(``base``); then side tables are added to it, drawn from the seed and from the base plan
(``side_tables``):

- per product a pallet and a truck size (``per_pallet``, ``per_truck``): bulk goods many to a
  pallet (in proportion to their need per million people, times 0.2-1), equipment one;
- ``capacity.csv``: a pallet capacity on each of the largest sources (the 5 % that ship the
  most pallets in the base plan, at least 3), 50-80 % of what each ships in the base plan; and
  a corridor, every route into the province that receives the most units in the base plan,
  carrying 70 % of the units the base plan moves on it;
- ``commitments.csv``: contract minimums (5 at province scale, 20 above), 30-70 % of what the
  base plan ships on (source, region, product) triples of other sources, off the corridor,
  each at least two lots; two designated sources, each for one product, to the half of its
  regions that get most of that product from it in the base plan;
- ``products.min_lot``: a quarter, half or whole pallet on the bulk products (20 units a
  pallet or more);
- ``sources.max_destinations``: half (rounded up) of the regions the base plan serves from
  each of the 10 % of sources that serve the most regions (no contract or designated source).

The commitments can always hold: the base plan, scaled down on the capacity-limited sources
and the corridor, with the closed arcs and the arcs below a lot emptied and only each limited
source's largest destinations kept, meets every row.

Paths, one after another in this process:

``base``
    ``allocator.solve`` of the instance without side tables: the network engine.
``capacity``, ``commitments``, ``lots``, ``destinations``
    ``allocator.solve`` with the capacity rows; with the commitments as well; then the lots;
    then the destination limits (each adds to the one before). Its ``build`` counts the side
    model and ``conflicts.find_conflicts`` (the check that the hard rows can all hold: an LP,
    then a MIP when the model has yes/no choices or a fractional coefficient); ``solve`` the
    lexicographic stages as LPs, then as MIPs when the LP optimum is not whole or there are
    binaries (``solve(whole="auto")``: proven up to ``side_solve.PROVEN_LIMIT`` countable
    columns, else rounded near the LP optimum, ``rounding``). The method, LP bound and
    integrality gap are ``Result.objective``'s. The time
    limit (``time_limit``) is ``allocator.solve``'s: it bounds the solver stages, not the
    conflict check; a path it stops is reported as ``timeout`` with the stage it stopped in.
    ``conflicts_s`` (printed under the table) is one more ``build_side`` + ``find_conflicts``
    run of the same instance, timed apart, before the solve.
``capacity-proven``
    The ``capacity`` instance with ``whole="proven"``: branch and bound over every column,
    whatever the size; the same weighted shortfall as ``capacity`` or less when it finishes.
``highs-arrays``, ``pulp-highs``
    Stage 1 only (least weighted shortfall, an LP; equity does not enter stage 1) of the
    ``capacity`` instance, built two ways from the loaded instance: as CSC arrays passed to
    highspy in one call (``model.build`` + ``constrained.build_side`` + ``solvers.highs``,
    as ``allocator.solve`` does), and as a PuLP model (one variable per column, its rows
    written as PuLP expressions from the same arc tables and ``capacity.csv``), solved with
    PuLP's HiGHS interface (``pulp.HiGHS``, highspy underneath; PuLP 3.3 hands it the model a
    column and a row at a time). ``build`` is up to the solver call; ``solve`` is the solver
    call with handing over the model and reading the values back. Both must reach the same
    optimum (relative 1e-7), and ``highs-arrays``' must equal the ``capacity`` path's LP bound.

Times are wall clock (``time.perf_counter``) without imports, ratios against ``base`` in the
same run. Plans use the instance policy's equity (on for generated instances) and
``explain=False`` (no marginal values). Every figure but the times is the same for the same
seed.
"""

from __future__ import annotations

import datetime
import math
import os
import time

import numpy as np
import pandas as pd

from allocator.errors import BenchError
from allocator.tools.bench import machine_header
from allocator.tools.bench import render_json as render_side_json  # the same figures as the text, unrounded

__all__ = [
    "SIDE_PATHS",
    "SIDE_SCALES",
    "BenchError",
    "bench_side_scale",
    "render_side_json",
    "render_side_text",
    "run_side_bench",
    "shrink",
    "side_tables",
    "stage1_arrays",
    "stage1_pulp",
]

SIDE_SCALES = ("province", "prefecture")
REFUSED = {
    "county": "refused: at prefecture scale (312,517 columns) the side model's LP equity stage alone ran "
    "over 40 minutes, and the conflict check has no time limit; county is 5 times larger",
    "village": "refused: the village scale has one product and nothing for side tables to bind",
}
SIDE_PATHS = (
    "base",
    "capacity",
    "commitments",
    "lots",
    "destinations",
    "capacity-proven",
    "highs-arrays",
    "pulp-highs",
)
CUMULATIVE = ("capacity", "commitments", "lots", "destinations")  # each adds its table to the one before
STAGE1_TOL = 1e-7  # relative: two LP solves of one model


# --------------------------------------------------------------------------------------------
# The side tables.


def side_tables(
    tables: dict[str, pd.DataFrame], dispatch: pd.DataFrame, seed: int, scale: str
) -> dict[str, dict[str, pd.DataFrame]]:
    """The tables of each side path (``CUMULATIVE``), from the generated ``tables``, the base
    plan's ``dispatch`` (source, region, product, quantity) and ``seed``."""
    from allocator.tools.generate import PRODUCTS, SCALES

    rng = np.random.default_rng([seed, 7_919, list(SCALES).index(scale)])
    products = tables["products"].copy()
    sources = tables["sources"].copy()
    routes = tables["routes"].copy()
    regions = tables["regions"]
    need = {p[0]: p[6] for p in PRODUCTS}

    # Sizes: bulk goods many to a pallet, equipment one; divisible goods (tonnes) about one.
    countable = products["countable"].to_numpy(bool)
    spread = rng.uniform(0.2, 1.0, len(products))
    need_m = products["product"].map(need).fillna(1.0).to_numpy(float)
    per_pallet = np.where(countable, np.maximum(1.0, np.round(need_m * spread)), np.round(0.5 + 0.5 * spread, 2))
    products["per_pallet"] = per_pallet
    products["per_truck"] = per_pallet * rng.integers(18, 34, len(products))
    bulk = countable & (per_pallet >= 20)
    lot = np.where(bulk, np.maximum(1.0, np.round(per_pallet * rng.choice([0.25, 0.5, 1.0], len(products)))), 0.0)

    d = dispatch[["source", "region", "product", "quantity"]].copy()
    d = d.loc[d["quantity"] > 0].reset_index(drop=True)
    d["pallets"] = d["quantity"] / d["product"].map(dict(zip(products["product"], per_pallet)))
    province_of = dict(zip(regions["region"], np.where(regions["parent"].eq(""), regions["region"], regions["parent"])))
    d["province"] = d["region"].map(province_of)

    # A pallet capacity on each of the largest sources (pallets shipped in the base plan).
    by_source = d.groupby("source")["pallets"].sum().sort_values(ascending=False, kind="stable")
    capped = list(by_source.index[: max(3, math.ceil(0.05 * len(sources)))])
    share = rng.uniform(0.5, 0.8, len(capped))
    cap_rows = [
        {
            "source": s,
            "region": "",
            "corridor": "",
            "measure": "pallets",
            "capacity": math.floor(by_source[s] * f * 10) / 10,
        }
        for s, f in zip(capped, share)
    ]
    # A corridor: every route into the province receiving the most units.
    units = d.groupby("province")["quantity"].sum().sort_values(ascending=False, kind="stable")
    name = f"into_{units.index[0]}"
    routes["corridor"] = np.where(routes["region"].map(province_of).eq(units.index[0]), name, "")
    on_corridor = d["province"].eq(units.index[0])
    cap_rows.append(
        {
            "source": "",
            "region": "",
            "corridor": name,
            "measure": "units",
            "capacity": float(math.floor(0.7 * d.loc[on_corridor, "quantity"].sum())),
        }
    )
    capacity = pd.DataFrame(cap_rows, columns=["source", "region", "corridor", "measure", "capacity"])

    # Contract minimums on other sources' shipments, off the corridor, each at least two lots.
    lot_of = dict(zip(products["product"], lot))
    countable_of = dict(zip(products["product"], countable))
    eligible = d.loc[
        ~d["source"].isin(capped)
        & ~on_corridor
        & d["product"].map(countable_of).astype(bool)
        & (d["quantity"] >= np.maximum(10.0, 2 * d["product"].map(lot_of)))
    ]
    eligible = eligible.sort_values(["source", "region", "product"]).reset_index(drop=True)
    n_con = min(len(eligible), 5 if scale == "province" else 20)
    pick = eligible.iloc[np.sort(rng.choice(len(eligible), n_con, replace=False))] if n_con else eligible.iloc[:0]
    minimum = np.floor(pick["quantity"].to_numpy(float) * rng.uniform(0.3, 0.7, len(pick)))
    com_rows = [
        {"source": s, "region": r, "product": p, "minimum": float(m), "kind": "contract"}
        for s, r, p, m in zip(pick["source"], pick["region"], pick["product"], minimum)
    ]
    # Two designated sources, each for one product, to the regions that get most of it from them.
    bound = set(capped) | set(pick["source"])
    spread_out = d.loc[~d["source"].isin(bound)].groupby(["source", "product"])["region"].nunique()
    spread_out = spread_out[spread_out >= 2].sort_index()
    designated: list[str] = []
    for k in np.sort(rng.choice(len(spread_out), min(2, len(spread_out)), replace=False)):
        s, p = spread_out.index[k]
        if s in designated:
            continue
        designated.append(s)
        part = d.loc[(d["source"] == s) & (d["product"] == p)].sort_values(
            ["quantity", "region"], ascending=[False, True], kind="stable"
        )
        com_rows += [
            {"source": s, "region": r, "product": p, "minimum": 0.0, "kind": "designated"}
            for r in part["region"].iloc[: max(1, int(spread_out.iloc[k]) // 2)]
        ]
    commitments = pd.DataFrame(com_rows, columns=["source", "region", "product", "minimum", "kind"])

    # Destination limits on the sources serving the most regions (no contract or designated one).
    reach = d.groupby("source")["region"].nunique()
    reach = reach[~reach.index.isin(set(pick["source"]) | set(designated)) & (reach >= 2)]
    limited = reach.sort_values(ascending=False, kind="stable").iloc[: max(2, math.ceil(0.1 * len(sources)))]
    max_dest = sources["source"].map(dict(zip(limited.index, np.ceil(limited.to_numpy() / 2)))).astype(float)

    out = {"capacity": dict(tables, products=products.assign(min_lot=0.0), routes=routes, capacity=capacity)}
    out["commitments"] = dict(out["capacity"], commitments=commitments)
    out["lots"] = dict(out["commitments"], products=products.assign(min_lot=lot))
    out["destinations"] = dict(out["lots"], sources=sources.assign(max_destinations=max_dest))
    return out


def shrink(tables: dict[str, pd.DataFrame], products: int, sources: int, regions: int) -> dict[str, pd.DataFrame]:
    """A cut of a generated instance (for the tests): its first ``products`` products, the first
    ``sources`` sources that make them, demand and routes in its first ``regions`` regions."""
    t = dict(tables)
    keep = t["products"]["product"].iloc[:products]
    families = set(t["products"]["family"].iloc[:products])
    supply = t["supply"].loc[t["supply"]["product"].isin(keep)]
    src = sorted(set(supply["source"]))[:sources]
    reg = set(t["regions"]["region"].iloc[:regions])
    t["products"] = t["products"].iloc[:products]
    t["supply"] = supply.loc[supply["source"].isin(src)]
    t["sources"] = t["sources"].loc[t["sources"]["source"].isin(src)]
    t["demand"] = t["demand"].loc[t["demand"]["family"].isin(families) & t["demand"]["region"].isin(reg)]
    t["routes"] = t["routes"].loc[t["routes"]["source"].isin(src) & t["routes"]["region"].isin(reg)]
    return {k: v.reset_index(drop=True) for k, v in t.items()}


# --------------------------------------------------------------------------------------------
# The run.


def run_side_bench(scales: list[str], *, seed: int = 1, time_limit: float = 600.0) -> dict:
    """Every path on every scale, in this process; the report (``render_side_text`` / ``render_side_json``)."""
    from allocator.tools.bench import machine_info

    if time_limit <= 0:
        raise BenchError(f"--timeout {time_limit:g}: expected a positive number of seconds")
    if seed < 0:
        raise BenchError(f"--seed {seed}: expected a whole number 0 or above")
    for scale in scales:
        if scale in REFUSED:
            raise BenchError(f"--side --scale {scale}: {REFUSED[scale]}; expected {' or '.join(SIDE_SCALES)}")
    report = {
        "date": datetime.date.today().isoformat(),
        "machine": machine_info(),
        "seed": seed,
        "time_limit_s": time_limit,
        "scales": [],
    }
    for scale in scales:
        report["scales"].append(bench_side_scale(scale, seed, time_limit))
    return report


def bench_side_scale(scale: str, seed: int, time_limit: float, cut: tuple[int, int, int] | None = None) -> dict:
    """One scale: generate, solve the base, add the side tables, time every path. ``cut``:
    (products, sources, regions) to keep (``shrink``), for the tests."""
    from allocator.inputs.validate import from_frames
    from allocator.tools.generate import generate

    load_average = os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # others' work slows the paths
    t = time.perf_counter()
    tables = generate(scale, seed)
    if cut is not None:
        tables = shrink(tables, *cut)
    base_instance = from_frames(**tables)
    prepared_s = time.perf_counter() - t
    base, base_row = _timed_solve("base", base_instance, time_limit)
    rows = [base_row]
    block = {
        "scale": scale,
        "seed": seed,
        "cut": cut,
        "prepared_s": prepared_s,
        "load_average": load_average,
        "paths": rows,
        "sides": None,
    }
    if base is None:
        return block
    t = time.perf_counter()
    per_path = side_tables(tables, base.dispatch, seed, scale)
    instances = {name: from_frames(**frames) for name, frames in per_path.items()}
    block["sides"] = _describe(per_path["destinations"], time.perf_counter() - t)
    for name in CUMULATIVE:
        conflicts_s = _conflicts_seconds(instances[name])
        rows.append(_timed_solve(name, instances[name], time_limit)[1])
        rows[-1]["conflicts_s"] = conflicts_s
    rows.append(_timed_solve("capacity-proven", instances["capacity"], time_limit, whole="proven")[1])
    rows.append(_stage1_row("highs-arrays", stage1_arrays, instances["capacity"]))
    rows.append(_stage1_row("pulp-highs", stage1_pulp, instances["capacity"]))
    compare_side(rows)
    return block


def _describe(frames: dict[str, pd.DataFrame], seconds: float) -> dict:
    com = frames["commitments"]
    return {
        "pallet_capacities": int(frames["capacity"]["measure"].eq("pallets").sum()),
        "corridors": int(frames["capacity"]["corridor"].ne("").sum()),
        "contracts": int(com["kind"].eq("contract").sum()),
        "designated_sources": int(com.loc[com["kind"].eq("designated"), "source"].nunique()),
        "lot_products": int((frames["products"]["min_lot"] > 0).sum()),
        "limited_sources": int(frames["sources"]["max_destinations"].notna().sum()),
        "prepared_s": seconds,
    }


_MEASURES = (
    "method",
    "build_s",
    "solve_s",
    "total_s",
    "weighted_shortfall",
    "lp_weighted_shortfall",
    "integrality_gap",
    "route_cost",
    "detail",
)


def _row(path: str, status: str, **fields) -> dict:
    return {"path": path, "status": status, **dict.fromkeys(_MEASURES), **fields}


def _timed_solve(path: str, instance, time_limit: float, whole: str = "auto"):
    """``allocator.solve`` (the policy's equity, self-check on, no explanations): the result and its row."""
    from allocator.errors import AllocatorError
    from allocator.pipeline.run import solve

    t = time.perf_counter()
    try:
        result = solve(instance, time_limit=time_limit, explain=False, whole=whole)
    except AllocatorError as exc:  # the time limit in a stage of the side model, or a conflict
        total = time.perf_counter() - t
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        limited = "time limit" in text
        method = "mip" if "(whole units)" in text else None  # the MIP's stages say so; an LP stage: not known yet
        return None, _row(path, "timeout" if limited else "failed", method=method, total_s=total, detail=text)
    total = time.perf_counter() - t
    obj = result.objective
    side = "method" in obj
    return result, _row(
        path,
        "ok" if result.status == "optimal" else result.status,
        method=obj["method"] if side else "network",
        build_s=result.timings["build"],
        solve_s=result.timings["solve"],
        total_s=total,
        weighted_shortfall=float(obj["weighted_shortfall"]),
        lp_weighted_shortfall=float(obj["lp_weighted_shortfall"]) if side else None,
        integrality_gap=float(obj["integrality_gap"]) if side else None,
        route_cost=float(obj["route_cost"]),
        solver=result.solver,
        equity=obj["equity"] != "off",
        lp_solves=result.lp_solves,
        timings={k: v for k, v in result.timings.items()},
    )


def _conflicts_seconds(instance) -> float:
    """``build_side`` + ``find_conflicts`` of ``instance``, timed apart from the solve."""
    from allocator.build.daily import build
    from allocator.build.side import build_side
    from allocator.engine.conflicts import find_conflicts

    model = build(instance)
    t = time.perf_counter()
    find_conflicts(instance, build_side(instance, model))
    return time.perf_counter() - t


def _stage1_row(path: str, run, instance) -> dict:
    try:
        got = run(instance)
    except Exception as exc:  # noqa: BLE001 - a failed path is a row of the table, not the end of the run
        return _row(path, "failed", detail=f"{type(exc).__name__}: {exc}")
    return _row(path, "ok", method="lp", **got)


def stage1_arrays(instance) -> dict:
    """Stage 1 (least weighted shortfall, LP) of ``instance``'s side model as ``allocator.solve``
    builds it: ``model.build`` + ``constrained.build_side`` (CSC arrays), one ``passModel``."""
    from allocator.build.daily import build
    from allocator.build.side import build_side
    from allocator.engine.backends import Status, make_lp

    t = time.perf_counter()
    side = build_side(instance, build(instance))
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    lp = make_lp(
        "highs",
        col_lower=side.col_lower,
        col_upper=side.col_upper,
        row_lower=side.row_lower,
        row_upper=side.row_upper,
        start=side.start,
        index=side.index,
        value=side.value,
    )
    cost = side.cost_vector("shortfall")
    lp.set_costs(cost)
    r = lp.solve()
    x = np.asarray(r.x, float)
    solve_s = time.perf_counter() - t
    if r.status is not Status.OPTIMAL:
        raise RuntimeError(f"HiGHS stopped with status {r.status.value}")
    return {
        "build_s": build_s,
        "solve_s": solve_s,
        "total_s": build_s + solve_s,
        "highs_run_s": _highs_run_seconds(getattr(lp, "_h", None)),
        "weighted_shortfall": float(cost @ x),
        "columns": side.n_cols,
        "rows": len(side.row_lower),
        "side_rows": len(side.rows),
    }


def _highs_run_seconds(highs) -> float | None:
    """HiGHS's own clock for its ``run`` calls (``Highs.getRunTime``), or None."""
    try:
        return float(highs.getRunTime())
    except AttributeError:
        return None


def stage1_pulp(instance) -> dict:
    """The same LP written in PuLP from the arc tables and ``capacity.csv``, solved by ``pulp.HiGHS``."""
    import pulp

    from allocator.build.daily import build

    t = time.perf_counter()
    flow = build(instance)
    problem = pulp.LpProblem("side_stage1", pulp.LpMinimize)
    ship = [
        problem.add_variable(f"ship_{j}", 0, float(u) if np.isfinite(u) else None)
        for j, u in enumerate(flow.col_upper[: flow.n_ship])
    ]
    serve = [problem.add_variable(f"serve_{k}", 0) for k in range(flow.n_serve)]
    short = [problem.add_variable(f"short_{i}", 0) for i in range(len(flow.demand))]
    ship_by_supply = flow.ship.groupby(["source", "product"], sort=False).indices
    for rec in flow.supply.itertuples(index=False):
        problem += pulp.lpSum(ship[j] for j in ship_by_supply.get((rec.source, rec.product), [])) <= float(rec.quantity)
    ship_by_hub = flow.ship.groupby(["region", "product"], sort=False).indices
    serve_by_hub = flow.serve.groupby(["region", "product"], sort=False).indices
    for hub in flow.hubs.itertuples(index=False):
        key = (hub.region, hub.product)
        problem += pulp.lpSum(ship[j] for j in ship_by_hub.get(key, [])) == pulp.lpSum(
            serve[k] for k in serve_by_hub.get(key, [])
        )
    serve_by_demand = flow.serve.groupby("demand_idx", sort=False).indices
    for i, quantity in enumerate(flow.demand["quantity"].to_numpy(float)):
        problem += pulp.lpSum(serve[k] for k in serve_by_demand.get(i, [])) + short[i] == float(quantity)
    # The shared capacities, one row per capacity.csv row: sum of size x flow on the routes it matches.
    column = {"pallets": "per_pallet", "trucks": "per_truck", "volume": "unit_volume", "mass": "unit_mass"}
    products = instance.products.set_index("product")
    arc_source = flow.ship["source"].to_numpy(object)
    arc_region = flow.ship["region"].to_numpy(object)
    arc_product = flow.ship["product"].to_numpy(object)
    arc_corridor = np.full(flow.n_ship, "", dtype=object)
    if instance.routes is not None:
        route = flow.ship["route"].to_numpy(np.int64)
        arc_corridor[route >= 0] = instance.routes["corridor"].to_numpy(object)[route[route >= 0]]
    for rec in instance.capacity.itertuples(index=False):
        on = np.ones(flow.n_ship, dtype=bool)
        for value, where in ((rec.source, arc_source), (rec.region, arc_region), (rec.corridor, arc_corridor)):
            if value:
                on &= where == value
        terms = []
        for j in np.flatnonzero(on):
            if rec.measure == "units":
                size = 1.0
            else:
                per = float(products.at[arc_product[j], column[rec.measure]])
                size = 1.0 / per if rec.measure in ("pallets", "trucks") else per
            terms.append((ship[j], size))
        problem += pulp.LpAffineExpression(terms) <= float(rec.capacity)
    problem += pulp.LpAffineExpression(list(zip(short, flow.demand["weight"].to_numpy(float))))
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    # As allocator's adapter sets HiGHS: simplex, one thread, the same seed.
    status = problem.solve(pulp.HiGHS(msg=False, mip=False, threads=1, solver="simplex", random_seed=0))
    objective = float(pulp.value(problem.objective))
    n_values = sum(v.varValue is not None for v in problem.variables())
    solve_s = time.perf_counter() - t
    if pulp.LpStatus[status] != "Optimal":
        raise RuntimeError(f"PuLP + HiGHS stopped with status {pulp.LpStatus[status]}")
    n_rows = problem.numConstraints()
    return {
        "build_s": build_s,
        "solve_s": solve_s,
        "total_s": build_s + solve_s,
        "highs_run_s": _highs_run_seconds(getattr(problem, "solverModel", None)),
        "weighted_shortfall": objective,
        "columns": n_values,
        "rows": n_rows,
        "note": f"PuLP {pulp.__version__} + pulp.HiGHS (highspy), {n_values:,} variables, {n_rows:,} rows",
    }


def compare_side(rows: list[dict]) -> None:
    """Ratios to ``base`` (total seconds); the stage-1 agreement of the two builds and the capacity path."""
    ok = {row["path"]: row for row in rows if row["status"] == "ok"}
    base = ok.get("base")
    for row in rows:
        row["vs_base"] = (
            row["total_s"] / base["total_s"] if base and row["total_s"] is not None and base["total_s"] > 0 else None
        )
    arrays, pulp_row, cap = ok.get("highs-arrays"), ok.get("pulp-highs"), ok.get("capacity")
    if arrays and pulp_row:
        pulp_row["agrees"] = _close(arrays["weighted_shortfall"], pulp_row["weighted_shortfall"])
        pulp_row["vs_arrays"] = {
            k: pulp_row[k] / arrays[k] if arrays[k] > 0 else None for k in ("build_s", "solve_s", "total_s")
        }
    if arrays and cap:
        arrays["agrees"] = _close(arrays["weighted_shortfall"], cap["lp_weighted_shortfall"])
    proven = ok.get("capacity-proven")
    if proven and cap:  # what proving optimality bought over the capacity path's method
        proven["below_capacity_path"] = cap["weighted_shortfall"] - proven["weighted_shortfall"]


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= STAGE1_TOL * max(1.0, abs(a), abs(b))


# --------------------------------------------------------------------------------------------
# Output.


_COLUMNS = (
    "path",
    "status",
    "method",
    "build_s",
    "solve_s",
    "total_s",
    "vs_base",
    "weighted_shortfall",
    "lp_bound",
    "integrality_gap",
)


def render_side_text(report: dict) -> str:
    """Header (date, machine), then per scale the side tables, the table and the notes."""
    lines = [
        machine_header("allocator bench --side", report),
        f"# seed {report['seed']}; every path in this process, one after another; seconds without imports; "
        f"time limit {report['time_limit_s']:g} s per path (solver stages)",
    ]
    for block in report["scales"]:
        lines += [""] + _scale_lines(block)
    return "\n".join(lines) + "\n"


def _scale_lines(block: dict) -> list[str]:
    cut = (
        f", cut to {block['cut'][0]} products, {block['cut'][1]} sources, {block['cut'][2]} regions"
        if block.get("cut")
        else ""
    )
    lines = [f"scale {block['scale']}{cut} (generated in {block['prepared_s']:.1f} s)"]
    if block.get("load_average") is not None:
        lines.append(f"load average (1 min) before the paths: {block['load_average']:.2f}")
    s = block["sides"]
    if s:
        lines.append(
            f"side tables: capacity.csv {s['pallet_capacities']} source pallet capacities + "
            f"{s['corridors']} corridor in units; commitments.csv {s['contracts']} contract minimums, "
            f"designated pairings for {s['designated_sources']} source(s); min_lot on "
            f"{s['lot_products']} products; max_destinations on {s['limited_sources']} sources"
        )
    table = [list(_COLUMNS)] + [_cells(row) for row in block["paths"]]
    widths = [max(len(r[i]) for r in table) for i in range(len(_COLUMNS))]
    for r in table:
        lines.append(
            "  ".join(
                [c.ljust(w) for c, w in zip(r[:3], widths[:3])] + [c.rjust(w) for c, w in zip(r[3:], widths[3:])]
            ).rstrip()
        )
    for row in block["paths"]:
        conflicts = (
            f"; conflict check (build_side + find_conflicts, timed apart) {row['conflicts_s']:.3f} s"
            if row.get("conflicts_s") is not None
            else ""
        )
        if row["status"] not in ("ok",):
            lines.append(f"{row['path']}: {row['status']} after {row['total_s']:.1f} s: {row['detail']}{conflicts}")
        elif "timings" in row:
            stages = ", ".join(f"{k} {v:.3f} s" for k, v in row["timings"].items())
            lines.append(
                f"{row['path']}: {row['solver']}, {row['lp_solves']} solves, equity "
                f"{'on' if row['equity'] else 'off'}; {stages}{conflicts}"
            )
    ok = {row["path"]: row for row in block["paths"] if row["status"] == "ok"}
    arrays, pulp_row = ok.get("highs-arrays"), ok.get("pulp-highs")
    if ok.get("capacity-proven") and "below_capacity_path" in ok["capacity-proven"]:
        lines.append(
            f"capacity-proven: the proven whole-unit optimum; the capacity path ({ok['capacity']['method']}) "
            f"has {ok['capacity-proven']['below_capacity_path']:,.3f} more weighted shortfall"
        )
    if arrays:
        same = {
            True: "equal to the capacity path's LP bound",
            False: "DIFFERENT from the capacity path's LP bound",
            None: "the capacity path did not finish: not compared",
        }[arrays.get("agrees")]
        lines.append(
            f"highs-arrays: stage 1 of the capacity model (LP): {arrays['columns']:,} columns, "
            f"{arrays['rows']:,} rows ({arrays['side_rows']} side rows); optimum {same}"
        )
    if pulp_row:
        r = pulp_row.get("vs_arrays") or {}
        ratio = (
            f"; PuLP / arrays: build {r['build_s']:.1f}x, solve {r['solve_s']:.1f}x, total {r['total_s']:.1f}x"
            if r
            else ""
        )
        agree = {True: "equal to highs-arrays'", False: "DIFFERENT from highs-arrays'", None: "not compared"}[
            pulp_row.get("agrees")
        ]
        lines.append(f"pulp-highs: {pulp_row['note']}; optimum {agree}{ratio}")
        if arrays and arrays.get("highs_run_s") is not None and pulp_row.get("highs_run_s") is not None:
            lines.append(
                f"HiGHS's own run time (Highs.getRunTime) within solve_s: highs-arrays "
                f"{arrays['highs_run_s']:.3f} s, pulp-highs {pulp_row['highs_run_s']:.3f} s; the rest of "
                f"solve_s is handing the model over and reading the values back"
            )
    return lines


def _cells(row: dict) -> list[str]:
    def num(key, fmt):
        return "-" if row.get(key) is None else format(row[key], fmt)

    over = ">" if row["status"] == "timeout" else ""  # stopped: the time and ratio are lower bounds
    return [
        row["path"],
        row["status"],
        row["method"] or "-",
        num("build_s", ".3f"),
        num("solve_s", ".3f"),
        over + num("total_s", ".3f"),
        over + num("vs_base", ".1f"),
        num("weighted_shortfall", ",.3f"),
        num("lp_weighted_shortfall", ",.3f"),
        num("integrality_gap", ",.3f"),
    ]
