"""Solve: the lexicographic stages as mixed-integer programs, for models whose LP vertices
need not be whole (multi-day stock dynamics, the daily model's side constraints).

1. least weighted shortfall over whole-unit plans (``W_int >= W_lp``; the difference,
   the integrality gap, is reported by the callers);
2. with equity, the fewest units below each row's LP fair box ``[floor, ceil]`` of its
   max-min fair share, with the weighted shortfall held at ``W_int``;
3. least cost (``cost_vector("plan")``), with both held.

HiGHS branch and bound (``solvers.highs``: relative gap 0, presolve off).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocator.engine.backends import Status, make_lp
from allocator.engine.lp import fair_box
from allocator.engine.types import Deadline
from allocator.errors import SolverError

__all__ = ["MipResult", "lexicographic_mip"]


@dataclass
class MipResult:
    x: np.ndarray  # the plan (countable columns whole)
    solves: int
    bound: float | None = None  # with a time limit in stage 1: branch and bound's proven lower bound
    stopped_in: str | None = None  # the stage the time limit stopped (the plan is the last stage's that ended)


class _Stopped(Exception):
    def __init__(self, r, what: str):
        self.r, self.what = r, what


def lexicographic_mip(
    model,
    fair: np.ndarray | None,
    time_limit: float | None = None,
    *,
    deadline: Deadline | None = None,
    partial: bool = False,
    start: np.ndarray | None = None,
) -> MipResult:
    """The three stages over whole-unit plans: ``model``'s ``countable_cols()`` integer.

    ``model`` has the interface ``engine.types.StagedModel``. ``fair``: the LP's max-min fair
    fill rate per demand row (None: no equity stage). Each stage is solved to a proven optimum
    (relative gap 0) and held while the next is solved (slack: ``hold``).

    When the deadline strikes: without ``partial``, ``SolverError``; with it, the best plan so
    far: in stage 1 the incumbent (if branch and bound found one; else ``SolverError``) with
    the proven bound, later the plan of the last stage that ended. ``start``: a whole-unit
    plan (all of ``model``'s columns) that stage 1 starts from as its first incumbent.
    """
    if deadline is None:
        deadline = Deadline(time_limit)
    n = model.n_cols
    lp = make_lp(
        "highs",
        col_lower=model.col_lower,
        col_upper=model.col_upper,
        row_lower=model.row_lower,
        row_upper=model.row_upper,
        start=model.start,
        index=model.index,
        value=model.value,
    )
    countable = model.countable_cols()
    lp.set_integer(np.flatnonzero(countable))
    integer = np.asarray(countable, dtype=bool)
    solves = 0

    def run(cost: np.ndarray, what: str, first: np.ndarray | None = None) -> np.ndarray:
        nonlocal solves
        full = np.zeros(lp.n_cols)
        full[: len(cost)] = cost
        lp.set_costs(full)
        if first is not None:
            lp.set_start(first)  # after the costs: changing the model drops a start set before
        solves += 1
        left = deadline.left()
        if left is not None:
            lp.set_time_limit(left)
        r = lp.solve()
        if r.status is Status.TIME_LIMIT:
            if partial:
                raise _Stopped(r, what)
            msg = f"{what} (whole units): the time limit stopped the branch and bound before a proven optimum"
            raise SolverError(msg)
        if r.status is not Status.OPTIMAL:
            msg = f"{what} (whole units): the solver stopped with status {r.status.value} ({r.message})"
            raise SolverError(msg)
        return r.x

    def hold(cost: np.ndarray, x: np.ndarray) -> None:
        """Keep ``cost @ x`` at its optimum from now on.

        The MIP's integer values are whole to 1e-7 (``mip_feasibility_tolerance``), so another
        plan's ``cost @ x`` may differ from its whole-unit value by up to 1e-7 x sum |cost|:
        that, and 1e-9 of the optimum, is the slack: 0.098 on the generated province instance
        (weights 1 to 32, optimum 9.8e7), a tenth of a unit of its smallest weight (the earlier
        1e-6 of the optimum let the later stages give back 121 of weighted shortfall at 1.2e8,
        docs/benchmarks.md). Weights below the slack (an export's 0.01) can still lose units."""
        cols = np.flatnonzero(cost)
        c = cost[cols]
        xs = x[cols]
        whole = integer[cols]
        best = float(c @ np.where(whole, np.round(xs), xs))
        tol = 1e-7 * float(np.abs(c).sum()) + 1e-9 * max(1.0, abs(best))
        lp.add_rows(np.array([-np.inf]), np.array([best + tol]), np.array([0, len(cols)]), cols, c)

    c1 = model.cost_vector("shortfall")
    try:
        x = run(c1, "stage 1 (weighted shortfall)", start)
    except _Stopped as stop:
        if not stop.r.has_solution:
            msg = (
                "stage 1 (weighted shortfall, whole units): the time limit struck before branch and bound found a plan"
            )
            raise SolverError(msg) from None
        return MipResult(_clean(model, stop.r.x[:n]), solves, bound=stop.r.bound, stopped_in="shortfall")
    hold(c1, x)
    stage = "equity"
    try:
        if fair is not None and len(model.demand):
            quantity = model.demand["quantity"].to_numpy(float)
            lo, _ = fair_box(
                np.nan_to_num(fair, nan=0.0),
                quantity,
                model.demand["countable"].to_numpy(bool),
                model.demand["weight"].to_numpy(float),
            )
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
            integer = np.concatenate([integer, np.zeros(k, dtype=bool)])  # the ``below`` columns are continuous
            x = run(c2, "stage 2 (equity)")
            hold(c2, x)
        stage = "cost"
        x = run(model.cost_vector("plan"), "stage 3 (cost)")[:n]
    except _Stopped:
        return MipResult(_clean(model, x[:n]), solves, stopped_in=stage)
    return MipResult(_clean(model, x), solves)


def _clean(model, x: np.ndarray) -> np.ndarray:
    countable = model.countable_cols()
    x = x.copy()
    x[countable] = np.round(x[countable])
    return np.where(np.abs(x) < 1e-9, 0.0, np.maximum(x, 0.0))
