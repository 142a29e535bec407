"""Solve: the lexicographic optimum of the daily model with side constraints, in whole units.

The stages are the daily model's (``lexicographic``): least weighted shortfall, max-min
fair fill rates within each weight class, least cost. With side rows the LP's vertices
need not be whole: a shared capacity in pallets or trucks has fractional coefficients,
and a capacity shared by several products lets the LP split a unit between them. The
method:

1. Solve the stages as LPs (``solve_lexicographic``). When every countable value (and
   every yes/no choice of a minimum lot or a destination limit) comes back whole, that is
   the plan: the LP optimum is whole, so it is also the whole-unit optimum (gap 0).
2. Otherwise, one of two whole-unit methods (``whole``; ``auto`` picks ``proven`` for a
   model of at most ``PROVEN_LIMIT`` countable columns, ``rounded`` above):

   ``proven`` (``method: mip``): the stages again as mixed-integer programs
   (``mip.lexicographic_mip``: HiGHS branch and bound, each stage to a proven optimum and
   held while the next is solved): least weighted shortfall over whole-unit plans, then
   the fewest units below each row's LP fair box, then least cost. Its weighted shortfall
   is the least any whole-unit plan has. It does not finish in ten minutes on the
   generated province instance (``allocator bench --side``).

   ``rounded`` (``method: rounded``, ``rounding.solve_rounded``): the same stages over the
   LP optimum's neighbourhood (destinations chosen from the LP, every route at most its LP
   value rounded up): the best whole-unit plan there, in seconds at province scale, not
   proven optimal over all plans. When the neighbourhood holds no plan, ``auto`` falls
   back to ``proven``.

   Either way the plan meets every row of the model exactly (nothing is rounded after the
   solve, so no constraint can break), and the LP's optimum is a lower bound on its
   weighted shortfall: the difference is reported as the integrality gap
   (``objective.integrality_gap``).

Minimum lots and destination limits are yes/no choices, so they always take step 2.
"""

from __future__ import annotations

import time

import numpy as np

from allocator.build.side import SideModel
from allocator.engine.lp import LexSolution, solve_lexicographic
from allocator.engine.mip import lexicographic_mip
from allocator.engine.rounding import NoRoundedPlan, solve_rounded
from allocator.errors import SolverError

__all__ = ["PROVEN_LIMIT", "WHOLE_METHODS", "solve_side"]

_INT_TOL = 1e-6
# Countable columns: above, ``auto`` rounds (README, "Whole units": proven 3.7 s at 1,342, > 120 s at 2,306).
PROVEN_LIMIT = 1500
WHOLE_METHODS = ("auto", "proven", "rounded")
SOLVER_NAMES = {"highs": "lp", "highs-mip": "mip", "highs-rounded": "rounded"}  # solver -> objective.method


def solve_side(
    model: SideModel, *, equity: bool = True, time_limit: float | None = None, whole: str = "auto"
) -> LexSolution:
    """The lexicographic optimum of ``model`` over whole-unit plans (``x`` over ``model.flow``'s columns).

    ``solver`` of the result: ``highs`` (the LP optimum is whole), ``highs-mip`` (proven) or
    ``highs-rounded`` (``SOLVER_NAMES``); ``shortfall_bound`` is the LP optimum (a lower
    bound on any plan's).
    """
    if whole not in WHOLE_METHODS:
        raise ValueError(f"whole={whole!r}: expected one of {', '.join(WHOLE_METHODS)}")
    t0 = time.perf_counter()
    try:
        lex = solve_lexicographic(model, equity=equity, whole=False, time_limit=time_limit, fallback=False)
    except SolverError as exc:
        msg = (
            f"{exc}; a plan with side constraints (shared capacity, commitments, lots, destination limits) "
            "is returned only when optimal: raise --time-limit"
        )
        raise SolverError(msg) from None
    x = lex.x
    countable = model.countable_cols()
    off = np.abs(x[countable] - np.round(x[countable]))
    n_flow = model.flow.n_cols
    seconds = {"lp": time.perf_counter() - t0}
    if not model.is_mip and (not off.size or off.max() <= _INT_TOL):
        x = x.copy()
        x[countable] = np.round(x[countable])
        x = np.where(np.abs(x) < 1e-9, 0.0, np.maximum(x, 0.0))
        solver, solves, fair_lo, fair_hi = "highs", lex.lp_solves, lex.fair_lo, lex.fair_hi
    else:
        t1 = time.perf_counter()

        def left() -> float | None:
            return None if time_limit is None else max(0.0, time_limit - (time.perf_counter() - t0))

        rounded = whole == "rounded" or (whole == "auto" and int(countable.sum()) > PROVEN_LIMIT)
        x = None
        if rounded:
            try:
                x, solves, more = solve_rounded(model, lex, equity=equity, time_limit=left())
                seconds.update(more)
                solver = "highs-rounded"
            except NoRoundedPlan:
                if whole == "rounded":
                    raise
        if x is None:
            x, solves = lexicographic_mip(model, lex.fair_fill if equity else None, time_limit=left())
            seconds["mip"] = time.perf_counter() - t1
            solver = "highs-mip"
        solves += lex.lp_solves
        fair_lo = fair_hi = None  # a yes/no choice or a shared row may keep a row outside its LP fair box
    w = float(x @ model.cost_vector("shortfall"))
    cost = float(x @ model.cost_vector("cost"))
    return LexSolution(
        x=x[:n_flow],
        weighted_shortfall=w,
        route_cost=cost,
        fair_fill=lex.fair_fill,
        lp_solves=solves,
        seconds=seconds,
        solver=solver,
        shortfall_bound=lex.weighted_shortfall,
        fair_lo=fair_lo,
        fair_hi=fair_hi,
    )
