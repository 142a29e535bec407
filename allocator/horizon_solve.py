"""Solve: the lexicographic optimum of a multi-day model, in whole units where items are countable.

The stages are those of the daily model (``lexicographic``): least weighted shortfall,
max-min fair fill rates within each weight class (highest first; the time preference
makes each day a class of its own), least route and transfer cost.

A multi-day model is a network only while every product is a consumable without
attrition and there are no floors: durable equipment (a unit in service stays on
hand), attrition (a fraction of the stock) and floors (a sum of stocks) add rows
that are not network rows, and then an LP vertex can be fractional. When it is, and
a fractional value belongs to a countable item, the stages are solved again as
mixed-integer programs (HiGHS branch and bound, proven optimal):

1. least weighted shortfall over whole-unit plans (``W_int >= W_lp``; the difference,
   the integrality gap, is reported);
2. with equity, the fewest units below each row's LP fair box ``[floor, ceil]`` of its
   max-min fair share, with the weighted shortfall held at ``W_int``;
3. least cost, with both held.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .errors import SolverError
from .horizon import HorizonModel
from .lexicographic import fair_box, solve_lexicographic
from .solvers import Status, make_lp

__all__ = ["HorizonSolution", "solve_horizon"]

_INT_TOL = 1e-6


@dataclass
class HorizonSolution:
    x: np.ndarray
    weighted_shortfall: float
    route_cost: float
    fair_fill: np.ndarray
    method: str  # "lp" (the LP vertex was whole) or "mip"
    lp_weighted_shortfall: float  # the LP relaxation's optimum (a lower bound)
    lp_solves: int
    seconds: dict[str, float] = field(default_factory=dict)


def solve_horizon(model: HorizonModel, *, equity: bool = True) -> HorizonSolution:
    t0 = time.perf_counter()
    lex = solve_lexicographic(model, equity=equity, whole=False)
    x = lex.x
    countable = model.countable_cols()
    off = np.abs(x[countable] - np.round(x[countable]))
    if not off.size or off.max() <= _INT_TOL:
        x = x.copy()
        x[countable] = np.round(x[countable])
        x = np.maximum(x, 0.0)
        w = float(x @ model.cost_vector("shortfall"))
        return HorizonSolution(x=x, weighted_shortfall=w, route_cost=float(x @ model.cost_vector("cost")),
                               fair_fill=lex.fair_fill, method="lp", lp_weighted_shortfall=lex.weighted_shortfall,
                               lp_solves=lex.lp_solves, seconds={"lp": time.perf_counter() - t0})
    t1 = time.perf_counter()
    x, solves = _whole_units(model, lex.fair_fill if equity else None)
    w = float(x @ model.cost_vector("shortfall"))
    return HorizonSolution(x=x, weighted_shortfall=w, route_cost=float(x @ model.cost_vector("cost")),
                           fair_fill=lex.fair_fill, method="mip", lp_weighted_shortfall=lex.weighted_shortfall,
                           lp_solves=lex.lp_solves + solves,
                           seconds={"lp": t1 - t0, "mip": time.perf_counter() - t1})


def _whole_units(model: HorizonModel, fair: np.ndarray | None) -> tuple[np.ndarray, int]:
    n = model.n_cols
    lp = make_lp("highs", col_lower=model.col_lower, col_upper=model.col_upper, row_lower=model.row_lower,
                 row_upper=model.row_upper, start=model.start, index=model.index, value=model.value)
    lp.set_integer(np.flatnonzero(model.countable_cols()))
    solves = 0

    def run(cost: np.ndarray, what: str) -> np.ndarray:
        nonlocal solves
        full = np.zeros(lp.n_cols)
        full[: len(cost)] = cost
        lp.set_costs(full)
        solves += 1
        r = lp.solve()
        if r.status is not Status.OPTIMAL:
            msg = f"{what} (whole units): the solver stopped with status {r.status.value} ({r.message})"
            raise SolverError(msg)
        return r.x

    def hold(cost: np.ndarray, x: np.ndarray) -> None:
        """Keep ``cost @ x`` at its optimum from now on."""
        cols = np.flatnonzero(cost)
        best = float(cost[cols] @ x[cols])
        tol = 1e-6 * max(1.0, abs(best))  # the MIP meets rows to 1e-7; a held optimum must not cut its own plan off
        lp.add_rows(np.array([-np.inf]), np.array([best + tol]), np.array([0, len(cols)]), cols, cost[cols])

    c1 = model.cost_vector("shortfall")
    x = run(c1, "stage 1 (weighted shortfall)")
    hold(c1, x)
    if fair is not None and len(model.demand):
        quantity = model.demand["quantity"].to_numpy(float)
        lo, _ = fair_box(np.nan_to_num(fair, nan=0.0), quantity, model.demand["countable"].to_numpy(bool),
                         model.demand["weight"].to_numpy(float))
        short = model.short_cols
        # below_k >= short_k - (quantity_k - lo_k): the units row k falls short of its fair box.
        below = np.array([lp.add_col(0.0, 0.0, np.inf) for _ in range(len(short))], dtype=np.int64)
        k = len(short)
        start = np.arange(0, 2 * k + 1, 2)
        index = np.column_stack([short, below]).ravel()
        value = np.column_stack([np.ones(k), -np.ones(k)]).ravel()
        lp.add_rows(np.full(k, -np.inf), quantity - lo, start, index, value)
        c2 = np.zeros(lp.n_cols)
        c2[below] = 1.0
        x = run(c2, "stage 2 (equity)")
        hold(c2, x)
    x = run(model.cost_vector("cost"), "stage 3 (cost)")[:n]
    countable = model.countable_cols()
    x = x.copy()
    x[countable] = np.round(x[countable])
    return np.where(np.abs(x) < 1e-9, 0.0, np.maximum(x, 0.0)), solves
