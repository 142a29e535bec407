"""Solve: a whole-unit plan of the model with side constraints, from its LP optimum, when a
proven whole-unit optimum is out of reach (``side_solve``'s ``rounded`` method).

The LP optimum ``x*`` of the side model is whole except on a few columns (72 of 14,898 on
the generated province instance with shared capacity, ``allocator bench --side``), and its
yes/no choices are fractional. A branch and bound over every column does not finish in ten
minutes at that scale; a branch and bound over the LP optimum's neighbourhood does, in
seconds (relaxation-induced neighbourhood search; Danna, Rothberg & Le Pape, "Exploring
relaxation induced neighborhoods to improve MIP solutions", Math. Programming 102, 2005):

1. **Destinations.** A source limited to ``K`` regions (``sources.max_destinations``) keeps
   the ``K`` regions that its contracts need, then those that take the largest share of its
   output in the LP (share of each product's supply, summed over products; ties by region
   name); its routes to every other region close. With those choices fixed, the LP stages
   are solved again (the LP bound reported stays the first LP's, the true bound).
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

from .constrained import SideModel
from .errors import SolverError
from .lexicographic import LexSolution, solve_lexicographic
from .mip import lexicographic_mip

__all__ = ["NoRoundedPlan", "fix_destinations", "neighbourhood", "solve_rounded"]

_TOL = 1e-6


class NoRoundedPlan(SolverError):
    """The LP optimum's neighbourhood holds no whole-unit plan."""


def solve_rounded(model: SideModel, lex: LexSolution, *, equity: bool, time_limit: float | None
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

    if (model.binaries["kind"] == "destination").any():
        model = fix_destinations(model, lex.x)
        try:
            lex = solve_lexicographic(model, equity=equity, whole=False, time_limit=left(), fallback=False)
        except SolverError as exc:
            if "infeasible" in str(exc):
                raise NoRoundedPlan(f"the destinations kept by the rounding leave no plan ({exc})") from None
            raise
        solves += lex.lp_solves
        seconds["lp_fixed"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    boxed = neighbourhood(model, lex.x)
    try:
        x, n = lexicographic_mip(boxed, lex.fair_fill if equity else None, time_limit=left())
    except SolverError as exc:
        if "status infeasible" in str(exc):
            raise NoRoundedPlan(f"the LP optimum's neighbourhood holds no whole-unit plan ({exc})") from None
        raise
    seconds["mip"] = time.perf_counter() - t1
    return x, solves + n, seconds


def fix_destinations(model: SideModel, x: np.ndarray) -> SideModel:
    """``model`` with each limited source's destinations chosen (step 1): the binaries of
    the kept (source, region) pairs fixed at 1, the others at 0 with their routes closed."""
    flow = model.flow
    dest = model.binaries.loc[model.binaries["kind"] == "destination"]
    links = model.big_m.loc[model.big_m["col"].isin(dest["col"])]
    arc = links["arc"].to_numpy(np.int64)
    # Share of the source's supply of the product each route carries in the LP.
    supply_row = flow.index[0: 2 * flow.n_ship: 2].astype(np.int64)
    supply = flow.row_upper[supply_row[arc]]
    share = np.where(supply > 0, x[arc] / np.where(supply > 0, supply, 1.0), 0.0)
    pair_share = pd.Series(share).groupby(links["col"].to_numpy()).sum()
    needed = _contract_pairs(model)
    frame = dest[["source", "region", "col"]].copy()
    frame["share"] = pair_share.reindex(frame["col"]).fillna(0.0).to_numpy()
    frame["needed"] = [(s, r) in needed for s, r in zip(frame["source"], frame["region"])]
    frame = frame.sort_values(["source", "needed", "share", "region"], ascending=[True, False, False, True],
                              kind="mergesort")
    k_of = _destination_limits(model, dest)
    rank = frame.groupby("source").cumcount().to_numpy()
    keep = (rank < frame["source"].map(k_of).to_numpy()) & ((frame["share"].to_numpy() > _TOL) |
                                                            frame["needed"].to_numpy())
    col_lower, col_upper = model.col_lower.copy(), model.col_upper.copy()
    y = frame["col"].to_numpy(np.int64)
    col_lower[y] = np.where(keep, 1.0, 0.0)
    col_upper[y] = col_lower[y]
    closed_pairs = set(y[~keep])
    closed_arcs = arc[np.isin(links["col"].to_numpy(), list(closed_pairs))]
    col_upper[closed_arcs] = 0.0
    return dataclasses.replace(model, col_lower=col_lower, col_upper=col_upper)


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
        lot_size = _lot_sizes(model, lots)
        used = x[lot_arc] > _TOL
        a = lot_arc[used]
        ceil[a] = np.minimum(np.maximum(ceil[a], lot_size[used]), model.most[a])
    upper[:n_ship] = np.where(countable, np.minimum(upper[:n_ship], np.maximum(ceil, 0.0)), upper[:n_ship])
    return dataclasses.replace(model, col_upper=upper)


def _lot_sizes(model: SideModel, lots: pd.DataFrame) -> np.ndarray:
    """The minimum lot of each lot binary, read off its ``x_a - L z_a >= 0`` row."""
    rows = model.rows.loc[model.rows["kind"] == "lot_min", "lp_row"].to_numpy(np.int64)
    cols = lots["col"].to_numpy(np.int64)
    sizes = np.zeros(len(cols))
    for k, c in enumerate(cols):
        entries = slice(model.start[c], model.start[c + 1])
        at = np.isin(model.index[entries], rows)
        sizes[k] = -model.value[entries][at][0]
    return sizes


def _destination_limits(model: SideModel, dest: pd.DataFrame) -> dict[str, int]:
    """Per limited source: its ``K``, the bound of the destinations row its binaries are in."""
    rows = model.rows.loc[model.rows["kind"] == "destinations", "lp_row"].to_numpy(np.int64)
    cols = dest["col"].to_numpy(np.int64)
    counts = model.start[cols + 1] - model.start[cols]
    entries = np.repeat(model.start[cols], counts) + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts,
                                                                                         counts)
    owner = np.repeat(np.arange(len(cols)), counts)
    in_row = np.isin(model.index[entries], rows)
    source = dest["source"].to_numpy(object)[owner[in_row]]
    bound = model.row_upper[model.index[entries][in_row]]
    return {s: int(round(k)) for s, k in zip(source, bound)}


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
