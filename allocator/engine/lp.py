"""Solve: the three-stage lexicographic optimum of a ``FlowModel``.

1. Least weighted shortfall ``W*``. Its optimal face is then fixed exactly by
   complementary slackness with the optimal duals: a column with a nonzero reduced cost
   is fixed at its bound, a supply row with a nonzero dual is made tight. The face is
   again a network polytope, so later stages stay integral and can never trade away
   any of ``W*``.
2. Equity (``policy.equity``): within each weight class, highest weight first, the
   fill rates are made max-min fair (lexicographically maximal sorted fill-rate vector)
   by progressive filling: maximise the common level ``t`` of the unfrozen rows; rows
   whose constraint has a positive dual cannot rise above ``t`` in any optimum and are
   frozen there; repeat (Bertsekas & Gallager, *Data Networks*, 2nd ed., 6.5.2; Nace &
   Pioro, IEEE Comm. Surveys 10(4), 2008). The fair fill of each row is unique; for
   countable items the deliveries are then boxed to ``[floor, ceil]`` of it, and each
   tier is boxed before the next one is made fair (so every tier's fair shares are the
   ones the final whole-unit plan can meet).
3. Least route cost on what is left (plus the stability penalty and the substitution charge:
   ``cost_vector("plan")``).
   That last LP is a network LP with integral data, so its basic optimum is integral for
   countable products.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from allocator.build.daily import FlowModel
from allocator.engine.backends import LPResult, make_lp
from allocator.engine.backends import Status as LPStatus
from allocator.engine.types import Deadline, Method, StagedSolution, Status
from allocator.errors import SolverError

__all__ = ["solve_lexicographic", "fair_box", "weight_classes", "stopped_before_stage_one"]

_REL_TOL = 1e-7  # reduced costs and duals below this (relative) count as zero
_INT_TOL = 1e-6  # how far from a whole number a countable value may come back


class _OutOfTime(Exception):
    pass


def solve_lexicographic(
    model: FlowModel,
    *,
    equity: bool = True,
    solver: str = "highs",
    time_limit: float | None = None,
    instance=None,
    whole: bool = True,
    fallback: bool = True,
    deadline: Deadline | None = None,
) -> StagedSolution:
    """Run the three stages on ``model`` and return the integral optimum.

    ``model`` is a ``FlowModel`` or any model with the same interface (the multi-day
    ``horizon.HorizonModel``): CSC arrays and bounds, ``cost_vector(stage)``, ``demand``
    (quantity, weight, countable), ``short_cols``, ``inequality_rows``, ``countable_cols()``
    and ``reachable(upper)``. With ``whole=False`` the last stage's values are returned
    as the LP gives them, for a caller that handles models whose vertices need not be
    integral.

    With ``time_limit`` (seconds, for all stages together), a stage the limit stops is
    abandoned: stopped in stage 1, the plan is the greedy one (``heuristic.greedy_plan``)
    with a proven bound on the least weighted shortfall; stopped later, the plan is the
    stage-1 optimum (least weighted shortfall, without the equity and cost stages). With
    ``fallback=False`` (a model without the daily network's tables, which the greedy plan
    needs) there is no plan before stage 1 ends: stopped there, ``SolverError``; stopped later,
    the stage-1 optimum as the LP gives it (the driver checks it is whole). ``deadline`` (one
    for a whole solve, ``engine.types.Deadline``) replaces ``time_limit`` when given.
    """
    t0 = time.perf_counter()
    if deadline is None:
        deadline = Deadline(time_limit)
    seconds: dict[str, float] = {}
    n = model.n_cols
    lp = make_lp(
        solver,
        col_lower=model.col_lower,
        col_upper=model.col_upper,
        row_lower=model.row_lower,
        row_upper=model.row_upper,
        start=model.start,
        index=model.index,
        value=model.value,
    )
    lower, upper = model.col_lower.copy(), model.col_upper.copy()
    counter = [0]

    def run(what: str) -> LPResult:
        left = deadline.left()
        if left is not None:
            if left <= 0:
                raise _OutOfTime
            lp.set_time_limit(left)
        counter[0] += 1
        r = lp.solve()
        if r.status is LPStatus.TIME_LIMIT:
            raise _OutOfTime
        if r.status is not LPStatus.OPTIMAL:
            msg = f"{what}: the solver stopped with status {r.status.value} ({r.message})"
            raise SolverError(msg)
        return r

    # Stage 1: least weighted shortfall.
    c1 = model.cost_vector("shortfall")
    lp.set_costs(c1)
    try:
        r = run("stage 1 (weighted shortfall)")
    except _OutOfTime:
        if not fallback:
            msg = (
                "the time limit stopped stage 1 (weighted shortfall) before any plan: a plan of this model "
                "(side constraints or several days) is returned only when optimal in its first stage; "
                "raise --time-limit"
            )
            raise SolverError(msg) from None
        return _stopped(model, "shortfall", None, counter[0], seconds, solver, instance)
    w_star = float(r.objective)
    x1 = r.x[:n].copy()
    _fix_optimal_face(lp, model, r, lower, upper, scale=max(1.0, float(np.abs(c1).max(initial=0.0))))
    seconds["shortfall"] = time.perf_counter() - t0
    stage = "equity"
    try:
        # Stage 2: max-min fair fill rates within each weight class.
        t1 = time.perf_counter()
        quantity = model.demand["quantity"].to_numpy(float)
        fair = np.full(len(quantity), np.nan)
        if equity and len(quantity):
            # The filling passes tighten copies; the box below starts again from the stage-1 face.
            _progressive_filling(lp, model, lower.copy(), upper.copy(), fair, run)
            _box_to_fair_level(lp, model, lower, upper, fair)
        seconds["equity"] = time.perf_counter() - t1
        # Stage 3: least route cost.
        stage = "cost"
        t2 = time.perf_counter()
        c3 = np.zeros(lp.n_cols)
        c3[:n] = model.cost_vector("plan")
        lp.set_costs(c3)
        r = run("stage 3 (route cost)")
    except _OutOfTime:
        if not fallback:  # the stage-1 optimum as the LP gives it; the caller checks it is whole
            x1 = np.where(np.abs(x1) < 1e-9, 0.0, x1)
            return StagedSolution(
                x=x1,
                weighted_shortfall=w_star,
                route_cost=float(x1 @ model.cost_vector("cost")),
                fair_fill=np.full(len(model.demand), np.nan),
                lp_solves=counter[0],
                seconds=seconds,
                solver=solver,
                status=Status.TIME_LIMIT,
                stopped_in=stage,
                shortfall_bound=w_star,
            )
        return _stopped(model, stage, x1, counter[0], seconds, solver, instance, w_star)
    x = _whole(model, r.x[:n]) if whole else np.where(np.abs(r.x[:n]) < 1e-9, 0.0, r.x[:n])
    seconds["cost"] = time.perf_counter() - t2
    route_cost = float(x @ model.cost_vector("cost"))
    box = (None, None)
    if equity:
        box = fair_box(
            fair,
            model.demand["quantity"].to_numpy(float),
            model.demand["countable"].to_numpy(bool),
            model.demand["weight"].to_numpy(float),
        )
    return StagedSolution(
        x=x,
        weighted_shortfall=w_star,
        route_cost=route_cost,
        fair_fill=fair,
        lp_solves=counter[0],
        seconds=seconds,
        solver=solver,
        shortfall_bound=w_star,
        fair_lo=box[0],
        fair_hi=box[1],
    )


def _whole(model: FlowModel, x: np.ndarray) -> np.ndarray:
    """Round countable columns, which a network LP returns whole up to float noise."""
    x = x.copy()
    countable = model.countable_cols()
    rounded = np.round(x[countable])
    off = np.abs(x[countable] - rounded)
    if off.size and off.max() > _INT_TOL:
        msg = f"the LP returned a non-integral value for a countable item (off by {off.max():.3g})"
        raise SolverError(msg)
    x[countable] = rounded
    x[~countable] = np.maximum(x[~countable], 0.0)
    return np.where(np.abs(x) < 1e-9, 0.0, x)


def stopped_before_stage_one(model: FlowModel, solver: str, instance) -> StagedSolution:
    """Out of time before the least shortfall is known: the greedy plan and a proven bound."""
    return _stopped(model, "shortfall", None, 0, {}, solver, instance)


def _stopped(
    model: FlowModel, stage: str, x1, solves: int, seconds: dict, solver: str, instance, w_star: float | None = None
) -> StagedSolution:
    from allocator.engine.greedy import greedy_plan, pooled_lower_bound

    x = None
    method = Method.LP
    if x1 is not None:
        try:
            x, bound = _whole(model, x1), w_star
        except SolverError:
            x = None
    if x is None:
        x, method = greedy_plan(model), Method.GREEDY
        bound = pooled_lower_bound(instance, model) if instance is not None else 0.0
    weights = model.demand["weight"].to_numpy(float)
    w = float(weights @ x[model.n_ship + model.n_serve :])
    cost = float(x[: model.n_ship] @ model.ship["cost"].to_numpy(float))
    fair = np.full(len(model.demand), np.nan)
    return StagedSolution(
        x=x,
        weighted_shortfall=w,
        route_cost=cost,
        fair_fill=fair,
        lp_solves=solves,
        seconds=seconds,
        solver=solver,
        status=Status.TIME_LIMIT,
        stopped_in=stage,
        shortfall_bound=bound,
        method=method,
    )


def _fix_optimal_face(lp, model: FlowModel, r: LPResult, lower: np.ndarray, upper: np.ndarray, scale: float) -> None:
    """Restrict the LP to the optimal face of the last stage (complementary slackness)."""
    n = model.n_cols
    tol = _REL_TOL * scale
    rc = r.col_dual[:n]
    at_lower = rc > tol
    at_upper = (rc < -tol) & np.isfinite(upper)
    upper[at_lower] = lower[at_lower]
    lower[at_upper] = upper[at_upper]
    changed = np.flatnonzero(at_lower | at_upper)
    lp.set_col_bounds(changed, lower[changed], upper[changed])
    rows = model.inequality_rows
    tight = rows[np.abs(r.row_dual[rows]) > tol]
    if len(tight):
        # The side the row sits on: its upper bound unless the activity is nearer the lower.
        act = r.row_value[tight]
        lo, hi = model.row_lower[tight], model.row_upper[tight]
        at_lo = np.isfinite(lo) & (~np.isfinite(hi) | (np.abs(act - lo) < np.abs(act - hi)))
        side = np.where(at_lo, lo, hi)
        lp.set_row_bounds(tight, side, side)


def weight_classes(weights: np.ndarray, active: np.ndarray) -> list[np.ndarray]:
    keys = np.array([float(f"{w:.12g}") for w in weights])
    classes = []
    for key in sorted(set(keys[active]), reverse=True):
        classes.append(np.flatnonzero(active & (keys == key)))
    return classes


def _progressive_filling(lp, model: FlowModel, lower: np.ndarray, upper: np.ndarray, fair: np.ndarray, run) -> None:
    """Water-fill each weight class; write each demand row's fair fill rate into ``fair``."""
    quantity = model.demand["quantity"].to_numpy(float)
    weights = model.demand["weight"].to_numpy(float)
    short = model.short_cols
    fair[quantity <= 0] = 1.0
    # Rows whose delivery the optimal face already fixes (or that nothing can reach) need no
    # filling pass: their level is known.
    reachable = model.reachable(upper)
    fixed = (quantity > 0) & ((lower[short] >= upper[short]) | ~reachable)
    fair[fixed] = np.where(reachable[fixed], 1.0 - upper[short][fixed] / quantity[fixed], 0.0)
    countable = model.demand["countable"].to_numpy(bool)
    face_lo, face_hi = lower[short].copy(), upper[short].copy()
    t_col = lp.add_col(0.0, 0.0, 0.0)
    for members in weight_classes(weights, (quantity > 0) & ~fixed):
        # short_d + (D_d / K) * tau <= D_d  <=>  fill_d >= t = tau / K. The level is carried
        # scaled by K, the largest demand of the class, so that the rows' duals stay of order
        # one (with t itself they are of order 1/D and vanish below the solver's tolerances
        # when demand runs to a billion units).
        k = len(members)
        scale = float(quantity[members].max())
        start = np.arange(0, 2 * k + 1, 2)
        index = np.column_stack([short[members], np.full(k, t_col)]).ravel()
        value = np.column_stack([np.ones(k), quantity[members] / scale]).ravel()
        rows = lp.add_rows(np.full(k, -np.inf), quantity[members], start, index, value)
        cost = np.zeros(lp.n_cols)
        cost[t_col] = -1.0
        lp.set_costs(cost)
        lp.set_col_bounds([t_col], 0.0, scale)
        open_ = np.ones(k, dtype=bool)
        while open_.any():
            r = run("stage 2 (equity)")
            t = float(min(max(r.x[t_col] / scale, 0.0), 1.0))
            pos = np.flatnonzero(open_)
            if t >= 1.0 - 1e-12:
                block = pos
            else:
                # A row with a positive dual cannot rise above t in any optimum. The duals of
                # the blocked rows are all of one order (the supply they share per unit of
                # their demand), whatever the size of each row's demand; the rest are zero.
                dual = np.abs(r.row_dual[rows[pos]])
                block = pos[dual > 1e-7 * dual.max()] if dual.max() > 0 else pos[:0]
                if len(block) == 0:
                    block = pos[[int(np.argmax(dual))]]
            d = members[block]
            fair[d] = 1.0 if t >= 1.0 - 1e-12 else t
            cols = short[d]
            new_upper = np.minimum(upper[cols], quantity[d] * (1.0 - fair[d]) + 1e-12 * quantity[d] + 1e-7)
            upper[cols] = np.maximum(new_upper, lower[cols])
            lp.set_col_bounds(cols, lower[cols], upper[cols])
            lp.set_row_bounds(rows[block], -np.inf, np.inf)
            open_[block] = False
        lp.set_col_bounds([t_col], 0.0, 0.0)
        # Lower tiers are made fair with this tier inside its box, as in the final plan.
        lo_fill, hi_fill = fair_box(fair[members], quantity[members], countable[members], weights[members])
        cols = short[members]
        new_lo = np.maximum(face_lo[members], quantity[members] - hi_fill)
        new_hi = np.maximum(np.minimum(face_hi[members], quantity[members] - lo_fill), new_lo)
        lower[cols], upper[cols] = new_lo, new_hi
        lp.set_col_bounds(cols, new_lo, new_hi)
    lp.set_costs(np.zeros(lp.n_cols))


def fair_box(
    fair: np.ndarray, quantity: np.ndarray, countable: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The deliveries that count as fair: whole units around each row's fair share.

    The LP knows a fair share to about one part in 1e9 of the largest demand of the row's
    tier, so the box is ``[floor, ceil]`` of the share widened by that much: exactly the
    whole units around it for ordinary demand, a unit or two more when a tier holds
    demand of a billion units. Non-countable rows get the same slack.
    """
    target = fair * quantity
    keys = np.array([float(f"{w:.12g}") for w in weights])
    tier_max = pd.Series(quantity).groupby(keys).transform("max").to_numpy(float)
    slack = 1e-9 * tier_max  # the LP's precision on a share
    nearest = np.round(target)
    whole = np.abs(target - nearest) <= slack + _INT_TOL  # a whole share, to precision
    k = np.floor(slack + _INT_TOL)
    lo = np.where(whole, nearest - k, np.floor(target - slack))
    hi = np.where(whole, nearest + k, np.ceil(target + slack))
    lo = np.where(countable, lo, target - slack - _INT_TOL)
    hi = np.where(countable, hi, target + slack + _INT_TOL)
    return np.maximum(lo, 0.0), np.minimum(hi, quantity)


def _box_to_fair_level(lp, model: FlowModel, lower: np.ndarray, upper: np.ndarray, fair: np.ndarray) -> None:
    """Bound every demand row's delivery to its fair level: [floor, ceil] of it for countable items."""
    quantity = model.demand["quantity"].to_numpy(float)
    countable = model.demand["countable"].to_numpy(bool)
    short = model.short_cols
    lo_fill, hi_fill = fair_box(fair, quantity, countable, model.demand["weight"].to_numpy(float))
    lo_short, hi_short = quantity - hi_fill, quantity - lo_fill
    new_lo = np.maximum(lower[short], lo_short)
    new_hi = np.minimum(upper[short], hi_short)
    if np.any(new_lo > new_hi + _INT_TOL):
        msg = "the fair fill levels are inconsistent with the optimal face (numerical trouble)"
        raise SolverError(msg)
    new_hi = np.maximum(new_hi, new_lo)
    lower[short], upper[short] = new_lo, new_hi
    lp.set_col_bounds(short, new_lo, new_hi)
