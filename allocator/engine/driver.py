"""Solve: the one staged driver every model family goes through.

The three model families (the day's network ``build.daily.FlowModel``, the day with side
constraints ``build.side.SideModel``, several days ``build.horizon.HorizonModel``) meet one
interface (``engine.types.StagedModel``) and are solved by ``solve_staged`` to the same
lexicographic optimum: least weighted shortfall; with equity, max-min fair fill rates within
each weight class, highest weight first; least cost.

The escalation is written once, here: the stages are solved as LPs (``engine.lp``; the network
model on min-cost flows, ``engine.network``, family by family, ``engine.daily``); when a
countable value comes back fractional (a side row or a stock dynamic broke the network
structure), the stages are solved again over whole units: branch and bound (``engine.mip``,
``Method.MIP``) or, for a large side model, the best whole plan near the LP optimum
(``engine.rounding``, ``Method.ROUNDED``). The LP optimum stays the proven bound.

One ``Deadline`` runs through every stage. When it strikes, the best plan found so far is
returned with ``Status.TIME_LIMIT``, the stage it stopped (``stopped_in``) and a proven lower
bound on the least weighted shortfall (``shortfall_bound``; ``gap`` is the plan's distance to it).
Under a time limit, a multi-day model whose LP optimum is fractional first gets a whole-unit plan
near that optimum (``engine.neighbourhood``), and branch and bound starts from it: a stopped
solve returns that plan (``Method.ROUNDED``) or a better one. A model that is not a network has
no plan before its first LP stage ends: stopped there, it raises ``SolverError``.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from allocator.build.daily import FlowModel
from allocator.build.side import SideModel
from allocator.engine import side as side_family  # PROVEN_LIMIT read at call time (tests set it)
from allocator.engine.daily import solve_model
from allocator.engine.lp import solve_lexicographic
from allocator.engine.mip import lexicographic_mip
from allocator.engine.neighbourhood import near_plan
from allocator.engine.rounding import NoRoundedPlan, solve_rounded
from allocator.engine.types import (
    INT_TOL,
    WHOLE_METHODS,
    Deadline,
    Method,
    StagedModel,
    StagedSolution,
    Status,
    fractional,
)
from allocator.errors import SolverError, UsageError
from allocator.numbers import figure_text

__all__ = ["solve_staged"]

log = logging.getLogger("allocator.engine")


def solve_staged(
    model: StagedModel,
    *,
    equity: bool = True,
    time_limit: float | None = None,
    solver: str = "auto",
    whole: str = "auto",
    instance=None,
) -> StagedSolution:
    """The lexicographic optimum of ``model`` over whole-unit plans; see the module's docstring.

    ``solver`` (the network model only): ``auto``, ``network`` or ``highs`` (``engine.daily``).
    ``whole`` (models whose LP vertices need not be whole): ``proven``, ``rounded`` or ``auto``
    (``engine.side.PROVEN_LIMIT``; a multi-day model is always ``proven``). ``instance``: the
    greedy fallback's bound needs the day's tables.
    """
    if whole not in WHOLE_METHODS:
        raise UsageError(f"whole={whole!r}: expected one of {', '.join(WHOLE_METHODS)}")
    deadline = Deadline(time_limit)
    t0 = time.perf_counter()
    if isinstance(model, FlowModel):
        sol = solve_model(model, equity=equity, solver=solver, deadline=deadline, instance=instance)
    else:
        sol = _escalate(model, equity=equity, deadline=deadline, whole=whole, side=isinstance(model, SideModel))
    log.info(
        "%s: %s, method %s, %d solver calls, %.3f s",
        type(model).__name__,
        sol.status,
        sol.method,
        sol.lp_solves,
        time.perf_counter() - t0,
    )
    return sol


def _escalate(model: StagedModel, *, equity: bool, deadline: Deadline, whole: str, side: bool) -> StagedSolution:
    """LP stages, then whole units when a countable value comes back fractional."""
    t0 = time.perf_counter()
    lex = solve_lexicographic(model, equity=equity, whole=False, deadline=deadline, fallback=False)
    seconds = {"lp": time.perf_counter() - t0}
    is_mip = bool(getattr(model, "is_mip", False))  # yes/no choices (lots, destination limits)
    if not is_mip and fractional(model, lex.x) <= INT_TOL:
        x = lex.x.copy()
        countable = model.countable_cols()
        x[countable] = np.round(x[countable])
        x = np.where(np.abs(x) < 1e-9, 0.0, np.maximum(x, 0.0))
        sol = _solution(model, x, lex, lex.lp_solves, seconds, "highs", Method.LP, lex.fair_lo, lex.fair_hi)
        sol.status, sol.stopped_in = lex.status, lex.stopped_in  # stopped after stage 1: its optimum, whole
        return sol
    if lex.status is not Status.OPTIMAL:
        # Out of time after stage 1 with a fractional LP plan: no whole-unit plan to give.
        msg = (
            f"the time limit stopped the {lex.stopped_in} stage before a whole-unit plan was found (the LP "
            f"optimum is fractional; its weighted shortfall {figure_text(lex.weighted_shortfall)} is a lower "
            "bound): raise --time-limit"
        )
        raise SolverError(msg)
    off = fractional(model, lex.x)
    log.info("%s: the LP optimum is fractional (off by %.3g): whole-unit stages", type(model).__name__, off)
    t1 = time.perf_counter()
    x = None
    if side:
        rounded = whole == "rounded" or (
            whole == "auto" and int(model.countable_cols().sum()) > side_family.PROVEN_LIMIT
        )
        if rounded:
            try:
                x, solves, more = solve_rounded(model, lex, equity=equity, time_limit=deadline.left())
                seconds.update(more)
                solver, method = "highs-rounded", Method.ROUNDED
            except NoRoundedPlan:
                if whole == "rounded":
                    raise
                log.info("no whole-unit plan near the LP optimum: branch and bound")
    stopped_in = None
    if x is None:
        fair = lex.fair_fill if equity else None
        near = None
        if not side and deadline.seconds is not None and hasattr(model, "move_cols"):
            # Under a time limit, a plan near the LP optimum first: branch and bound starts from it.
            near = near_plan(model, lex.x, fair, deadline)
            seconds["near"] = time.perf_counter() - t1
            log.info("a whole-unit plan near the LP optimum: %s", "found" if near is not None else "none")
        if near is not None and deadline.expired():
            mip = near
            x, solves, method = near.x, near.solves, Method.ROUNDED
            stopped_in = near.stopped_in or "shortfall"
        else:
            mip = lexicographic_mip(
                model, fair, deadline=deadline, partial=True, start=None if near is None else near.x
            )
            x, solves, stopped_in, method = mip.x, mip.solves, mip.stopped_in, Method.MIP
            c1 = model.cost_vector("shortfall")
            if near is not None:
                solves += near.solves
                if stopped_in == "shortfall" and float(near.x @ c1) <= float(mip.x @ c1) + 1e-9:
                    # Branch and bound found nothing better in time: the near plan, whose later stages ran.
                    x, method = near.x, Method.ROUNDED
        seconds["mip"] = time.perf_counter() - t1
        solver = "highs-mip" if method is Method.MIP else "highs-rounded"
        bound = max(float(lex.weighted_shortfall), mip.bound) if mip.bound is not None else lex.weighted_shortfall
        lex.shortfall_bound = bound
    # A yes/no choice or a shared row may keep a row outside its LP fair box: no box.
    sol = _solution(model, x, lex, solves + lex.lp_solves, seconds, solver, method, None, None)
    if stopped_in is not None:
        sol.status, sol.stopped_in = Status.TIME_LIMIT, stopped_in
    return sol


def _solution(model, x, lex, solves, seconds, solver, method, fair_lo, fair_hi) -> StagedSolution:
    n_flow = model.flow.n_cols if hasattr(model, "flow") else len(x)  # a side model plans its flow's columns
    return StagedSolution(
        x=x[:n_flow],
        weighted_shortfall=float(x @ model.cost_vector("shortfall")),
        route_cost=float(x @ model.cost_vector("cost")),
        fair_fill=lex.fair_fill,
        lp_solves=solves,
        seconds=seconds,
        solver=solver,
        shortfall_bound=lex.shortfall_bound,
        fair_lo=fair_lo,
        fair_hi=fair_hi,
        method=method,
    )
