"""Solve: a whole-unit plan of the model with side constraints, from its LP optimum, when a
proven whole-unit optimum is out of reach (``side_solve``'s ``rounded`` method).

The LP optimum ``x*`` of the side model is whole except on a few columns (72 of 14,898 on
the generated province instance with shared capacity, ``allocator bench --side``), and its
yes/no choices are fractional. A branch and bound over every column does not finish in ten
minutes at that scale; a branch and bound over the LP optimum's neighbourhood does, in
seconds (relaxation-induced neighbourhood search; Danna, Rothberg & Le Pape, "Exploring
relaxation induced neighborhoods to improve MIP solutions", Math. Programming 102, 2005):

1. **Destinations.** A source limited to ``K`` regions (``sources.max_destinations``) keeps
   the ``K`` regions that its contracts need, then those the LP favours (ties by region
   name); its routes to every other region close. With those choices fixed, the LP stages
   are solved again (the LP bound reported stays the first LP's, the true bound), and steps
   2 and 3 run. "Favours" is ranked two ways, and the better plan (least weighted shortfall,
   then least cost) is kept: by the share of the source's output each region takes (of each
   product's supply, summed over products), and by the weighted shortfall the region's LP
   units take away (units times the mean weight of the demand they serve there). Neither
   wins everywhere: on two instances cut from the generated province one (4 products, 30
   sources, 20 regions; 3, 16, 12), share gave W 20,293,364 against 20,940,664 (the proven
   optimum 19,841,401) and the weights 5,623,414 (the proven optimum) against 5,623,698.
2. **Neighbourhood.** Every countable route column keeps the LP's value rounded up as its
   upper bound (a route the LP leaves empty stays empty); a route with a minimum lot that the
   LP uses may carry a whole lot (``max(ceil x*, min_lot)``, at most what it can carry). The
   deliveries from the regions' hubs to their demand rows, the shortfalls and the lot
   choices stay free.
3. **Whole units.** The lexicographic stages run as MIPs over that neighbourhood
   (``mip.lexicographic_mip``): least weighted shortfall, the fewest units below the LP's fair
   boxes, least cost. Every row of the model holds exactly: nothing is rounded after the
   solve, so no constraint can break.

The plan is the best whole-unit plan in the neighbourhood, not a proven optimum over all
plans: its weighted shortfall is at least the LP bound, and ``objective.integrality_gap``
says by how much. When the neighbourhood holds no plan (a contract that needs a route the
rounding closed), the caller falls back to the proven method.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd

from allocator.build.side import SideModel
from allocator.engine.lp import solve_lexicographic
from allocator.engine.mip import lexicographic_mip
from allocator.engine.types import StagedSolution
from allocator.errors import NoRoundedPlan, SolverError, UsageError

__all__ = ["NoRoundedPlan", "RANKINGS", "fix_destinations", "neighbourhood", "solve_rounded"]

_TOL = 1e-6


def solve_rounded(
    model: SideModel, lex: StagedSolution, *, equity: bool, time_limit: float | None
) -> tuple[np.ndarray, int, dict[str, float]]:
    """A whole-unit plan of ``model`` (all its columns) near its LP optimum ``lex``.

    Returns ``(x, solves, seconds)``; raises ``NoRoundedPlan`` when the neighbourhood holds
    no plan and ``SolverError`` when the time limit stops a stage.
    """
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}
    solves = 0

    def left() -> float | None:
        return None if time_limit is None else max(0.0, time_limit - (time.perf_counter() - t0))

    if not (model.binaries["kind"] == "destination").any():
        t1 = time.perf_counter()
        x, n = _round(model, lex, equity, left())
        seconds["mip"] = time.perf_counter() - t1
        return x, n, seconds
    # Destinations: each ranking's choice, its LP stages again, its neighbourhood; the better plan.
    best, tried = None, []
    failures = []
    for rank in RANKINGS:
        fixed = fix_destinations(model, lex.x, rank)
        kept = fixed.col_lower[model.binaries["col"].to_numpy(np.int64)]
        if any(np.array_equal(kept, k) for k in tried):
            continue  # the same regions kept: the same plan
        tried.append(kept)
        t1 = time.perf_counter()
        try:
            lex_fixed = solve_lexicographic(fixed, equity=equity, whole=False, time_limit=left(), fallback=False)
            solves += lex_fixed.lp_solves
            x, n = _round(fixed, lex_fixed, equity, left())
        except NoRoundedPlan as exc:
            failures.append(f"{rank}: {exc}")
            continue
        except SolverError as exc:
            if "infeasible" not in str(exc):
                raise
            failures.append(f"{rank}: the destinations kept leave no plan ({exc})")
            continue
        solves += n
        seconds[f"destinations by {rank}"] = time.perf_counter() - t1
        key = (round(float(x @ model.cost_vector("shortfall")), 6), round(float(x @ model.cost_vector("plan")), 6))
        if best is None or key < best[0]:
            best = (key, x)
    if best is None:
        raise NoRoundedPlan("; ".join(failures))
    return best[1], solves, seconds


def _round(model: SideModel, lex: StagedSolution, equity: bool, time_limit: float | None) -> tuple[np.ndarray, int]:
    """Steps 2 and 3: the lexicographic MIPs over the neighbourhood of ``lex.x``."""
    boxed = neighbourhood(model, lex.x)
    try:
        mip = lexicographic_mip(boxed, lex.fair_fill if equity else None, time_limit=time_limit)
        return mip.x, mip.solves
    except SolverError as exc:
        if "status infeasible" in str(exc):
            raise NoRoundedPlan(f"the LP optimum's neighbourhood holds no whole-unit plan ({exc})") from None
        raise


RANKINGS = ("share", "saved")


def fix_destinations(model: SideModel, x: np.ndarray, rank: str = "share") -> SideModel:
    """``model`` with each limited source's destinations chosen (step 1): the binaries of
    the kept (source, region) pairs fixed at 1, the others at 0 with their routes closed.

    ``rank``: ``share`` (of the source's supply of each product, summed over products) or
    ``saved`` (the weighted shortfall the pair's LP units take away: units times the mean
    weight of the demand its region's hub serves)."""
    flow = model.flow
    dest = model.binaries.loc[model.binaries["kind"] == "destination"]
    links = model.big_m.loc[model.big_m["col"].isin(dest["col"])]
    arc = links["arc"].to_numpy(np.int64)
    if rank == "share":
        supply_row = flow.index[0 : 2 * flow.n_ship : 2].astype(np.int64)
        supply = flow.row_upper[supply_row[arc]]
        value = np.where(supply > 0, x[arc] / np.where(supply > 0, supply, 1.0), 0.0)
    elif rank == "saved":
        value = _saved(flow, x, arc)
    else:
        raise UsageError(f"rank={rank!r}: expected one of {', '.join(RANKINGS)}")
    pair_value = pd.Series(value).groupby(links["col"].to_numpy()).sum()
    needed = _contract_pairs(model)
    frame = dest[["source", "region", "col", "limit"]].copy()
    frame["value"] = pair_value.reindex(frame["col"]).fillna(0.0).to_numpy()
    frame["needed"] = [(s, r) in needed for s, r in zip(frame["source"], frame["region"])]
    frame = frame.sort_values(
        ["source", "needed", "value", "region"], ascending=[True, False, False, True], kind="mergesort"
    )
    position = frame.groupby("source").cumcount().to_numpy()
    keep = (position < frame["limit"].to_numpy()) & ((frame["value"].to_numpy() > _TOL) | frame["needed"].to_numpy())
    col_lower, col_upper = model.col_lower.copy(), model.col_upper.copy()
    y = frame["col"].to_numpy(np.int64)
    col_lower[y] = np.where(keep, 1.0, 0.0)
    col_upper[y] = col_lower[y]
    col_upper[arc[np.isin(links["col"].to_numpy(), y[~keep])]] = 0.0  # the routes of the pairs not kept
    return dataclasses.replace(model, col_lower=col_lower, col_upper=col_upper)


def _saved(flow, x: np.ndarray, arc: np.ndarray) -> np.ndarray:
    """Per route in ``arc``: its LP units times the mean weight of the demand its region's hub serves."""
    n_ship, n_serve = flow.n_ship, flow.n_serve
    serve_x = x[n_ship : n_ship + n_serve]
    serve_w = flow.demand["weight"].to_numpy(float)[flow.serve["demand_idx"].to_numpy(np.int64)]
    hub = flow.hub_of("serve")
    out = np.bincount(hub, weights=serve_x, minlength=len(flow.hubs))
    saved = np.bincount(hub, weights=serve_x * serve_w, minlength=len(flow.hubs))
    mean_w = np.where(out > _TOL, saved / np.where(out > _TOL, out, 1.0), 0.0)
    return x[arc] * mean_w[flow.hub_of("ship")[arc]]


def neighbourhood(model: SideModel, x: np.ndarray) -> SideModel:
    """``model`` with the countable route columns bounded near the LP optimum ``x`` (step 2)."""
    flow = model.flow
    n_ship = flow.n_ship
    countable = flow.countable_cols()[:n_ship]
    ceil = np.ceil(x[:n_ship] - _TOL)
    upper = model.col_upper.copy()
    lots = model.binaries.loc[model.binaries["kind"] == "lot"]
    if len(lots):
        big_m = model.big_m.loc[model.big_m["col"].isin(lots["col"])]  # one x_a <= U_a z_a row per lot binary
        lot_arc = big_m.set_index("col")["arc"].reindex(lots["col"].to_numpy()).to_numpy(np.int64)
        lot_size = lots["limit"].to_numpy(float)
        used = x[lot_arc] > _TOL
        a = lot_arc[used]
        ceil[a] = np.minimum(np.maximum(ceil[a], lot_size[used]), model.most[a])
    upper[:n_ship] = np.where(countable, np.minimum(upper[:n_ship], np.maximum(ceil, 0.0)), upper[:n_ship])
    return dataclasses.replace(model, col_upper=upper)


def _contract_pairs(model: SideModel) -> set[tuple[str, str]]:
    """(source, region) pairs some contract ships on: a limited source keeps them first."""
    flow = model.flow
    rows = model.rows.loc[model.rows["kind"] == "commitment", "lp_row"].to_numpy(np.int64)
    if not len(rows):
        return set()
    n_ship = flow.n_ship
    cols = np.repeat(np.arange(n_ship), np.diff(model.start[: n_ship + 1]))
    hit = np.isin(model.index[: model.start[n_ship]], rows)
    arcs = np.unique(cols[hit])
    return set(zip(flow.ship["source"].to_numpy(object)[arcs], flow.ship["region"].to_numpy(object)[arcs]))
