"""The pipeline: validate (done by ``load``) -> build -> solve -> plan -> check.

``solve(instance)`` returns a ``Result``: the plan's tables, the objective terms, the
summary by tier and region, and the timings.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from allocator.build.daily import build
from allocator.build.guard import check_size
from allocator.engine.driver import solve_staged
from allocator.errors import ConflictError, InstanceError, Issue, SolverError
from allocator.explain.reasons import shortfall_reasons
from allocator.inputs.instance import Instance
from allocator.inputs.policy import Policy
from allocator.inputs.reach import substitute_rows
from allocator.numbers import json_number
from allocator.plan.daily import Plan, plan_from_solution
from allocator.plan.objective import Objective
from allocator.plan.results import Result
from allocator.plan.tables import region_table, tier_table

__all__ = ["solve", "check_plan"]


def solve(
    instance: Instance,
    *,
    equity: bool | None = None,
    icu_grade_for_general: bool | None = None,
    policy: Policy | None = None,
    solver: str = "auto",
    time_limit: float | None = None,
    memory_limit: float | None = None,
    check: bool = True,
    previous=None,
    explain: bool = True,
    whole: str = "auto",
) -> Result:
    """Solve one day's instance to the lexicographic optimum.

    Parameters
    ----------
    equity, icu_grade_for_general:
        Override the instance policy's switches.
    policy:
        Replace the instance's policy entirely.
    solver:
        ``auto`` (each product family on the network engine when its data is whole
        numbers, else on the LP engine), ``network`` or ``highs``; see ``engine``.
    time_limit:
        Seconds for all solver stages together; when reached, the best plan found is returned
        with ``status == "time_limit"`` and a proven bound (see ``lexicographic``).
    memory_limit:
        Bytes the solve may use (default: what the machine reports available); a larger
        instance is refused with ``InstanceTooLarge`` before anything is built.
    check:
        Verify the plan's invariants independently of the model (recommended; raises
        ``SolverError`` on any violation).
    previous:
        A previous plan (``stability.read_previous``): the cost stage keeps its (source,
        region) pairs unless priorities or fairness demand otherwise (``policy.change_cost``);
        the result counts the pairs changed (``objective["pairs_changed"]``, ``stability``).
    explain:
        Compute ``marginal`` and ``accounts`` (``why.value_tables``): about a fifth of the solve's
        time on a county-scale instance; ``False`` skips them (they stay ``None``).
    whole:
        With side constraints whose LP optimum is not whole: ``proven`` (branch and bound to
        the whole-unit optimum), ``rounded`` (the best whole-unit plan near the LP optimum,
        ``rounding``) or ``auto`` (``proven`` up to ``engine.side.PROVEN_LIMIT`` countable
        columns); see ``engine.driver``. Ignored without side constraints.
    """
    if not instance.one_day():
        days = instance.days
        span = f"{len(days)} days ({days[0]} to {days[-1]})" if days else "stock or transfers"
        msg = (
            f"the instance has {span}: `solve` plans one day without stock; plan it with `allocator plan` "
            "(allocator.multiday.plan) or `allocator replay`"
        )
        raise InstanceError([Issue("supply.csv" if days else "stock.csv", None, "day" if days else None, msg)])
    timings: dict[str, float] = {}
    pol = policy or instance.policy
    if equity is not None or icu_grade_for_general is not None:
        pol = pol.with_overrides(
            {k: v for k, v in (("equity", equity), ("icu_grade_for_general", icu_grade_for_general)) if v is not None}
        )
    if pol is not instance.policy:
        instance = instance.with_policy(pol)
    check_size(instance, memory_limit)
    t = time.perf_counter()
    model = build(instance)
    if previous is not None:
        from allocator.build.previous import apply_previous

        apply_previous(model, previous, pol.change_cost)
    side = _side_model(instance, model)
    timings["build"] = time.perf_counter() - t
    t = time.perf_counter()
    sol = solve_staged(
        model if side is None else side,
        equity=pol.equity,
        solver=solver,
        time_limit=time_limit,
        whole=whole,
        instance=instance,
    )
    timings["solve"] = time.perf_counter() - t
    t = time.perf_counter()
    plan = plan_from_solution(instance, model, sol.x)
    plan.fill["reason"] = shortfall_reasons(instance, model, sol.x, plan.fill).to_numpy()
    if side is not None:
        _add_side_limits(side, sol.x, plan.fill)
    fair = sol.fair_fill
    timings["plan"] = time.perf_counter() - t
    objective = Objective.of(sol, pol.equity)
    if side is not None:
        objective["side_constraints"] = side.features
        objective["method"] = str(sol.method)
        objective["lp_weighted_shortfall"] = json_number(sol.shortfall_bound)
        objective["integrality_gap"] = json_number(sol.weighted_shortfall - float(sol.shortfall_bound))
    if "preference" in model.serve and len(substitute_rows(instance)):
        # Units served by substitutes, and what the cost stage charged for them (not in route cost).
        serve_q = sol.x[model.n_ship : model.n_ship + model.n_serve]
        objective["substituted"] = json_number(serve_q[model.serve["preference"].to_numpy() > 0].sum())
        objective["substitution_charge"] = json_number(serve_q @ model.serve_charges())
    stability = None
    if previous is not None:
        from allocator.build.previous import pair_changes

        stability = pair_changes(previous, plan.dispatch)
        objective["pairs_changed"] = int((stability["change"] != "kept").sum())
        objective["change_cost"] = json_number(pol.change_cost)
    result = Result(
        instance=instance,
        plan=plan,
        status=sol.status,
        objective=objective,
        fair_fill=fair,
        stability=stability,
        fair_box=None if sol.fair_lo is None else (sol.fair_lo, sol.fair_hi),
        by_tier=tier_table(plan.fill),
        by_region=region_table(instance, plan.fill),
        solver=sol.solver,
        lp_solves=sol.lp_solves,
        timings=timings,
        method=str(sol.method),
    )
    if explain and side is not None:
        from allocator.explain.side_values import (
            side_value_tables,  # the same tables, each figure from a re-solve with the side rows
        )

        t = time.perf_counter()
        result.marginal, result.accounts, objective["explanations"] = side_value_tables(
            instance, side, sol.x, whole=objective["method"] == "mip"
        )
        timings["explain"] = time.perf_counter() - t
    if explain and side is None and (sol.status == "optimal" or sol.stopped_in in ("equity", "cost")):
        from allocator.explain.values import (
            value_tables,  # issue 7: marginal values; each source's account, the reasons stage by stage
        )

        t = time.perf_counter()
        result.marginal, result.accounts = value_tables(
            instance, model, sol.x, fair_box=(sol.fair_lo, sol.fair_hi), stages=3 if sol.status == "optimal" else 1
        )
        timings["explain"] = time.perf_counter() - t
    if check:
        t = time.perf_counter()
        ver = check_plan(instance, plan, "the solver's plan")
        timings["verify"] = time.perf_counter() - t
        got = ver.metrics["weighted_shortfall"]
        if abs(got - sol.weighted_shortfall) > 1e-6 * max(1.0, abs(got)):
            msg = f"weighted shortfall of the plan {got} differs from the stage-1 optimum {sol.weighted_shortfall}"
            raise SolverError(msg)
    return result


def _side_model(instance: Instance, model):
    """The model with side constraints, when the instance has any (else None); raise
    ``ConflictError`` naming the conflicting rows when the hard ones cannot all hold."""
    from allocator.build.side import build_side, has_side_constraints

    if not has_side_constraints(instance):
        return None
    from allocator.engine.conflicts import find_conflicts

    side = build_side(instance, model)
    conflict = find_conflicts(instance, side)
    if conflict is not None:
        issues = [
            Issue(f, int(line), col, f"conflicts: {what}") for f, line, col, what in conflict.itertuples(index=False)
        ]
        raise ConflictError(issues, conflict)
    return side


def _add_side_limits(side, x: np.ndarray, fill: pd.DataFrame) -> None:
    """Append the binding side limits (full shared capacity, designated pairing, destination
    limit) to the reason of each short row."""
    from allocator.explain.limits import side_limits

    short = np.flatnonzero((fill["shortfall"] > 1e-9).to_numpy())
    if not len(short):
        return
    key = pd.MultiIndex.from_frame(side.demand[["region", "family", "use"]])
    rows = key.get_indexer(pd.MultiIndex.from_frame(fill.iloc[short][["region", "family", "use"]]))
    limits = side_limits(side, x, rows)
    reason = fill["reason"].to_numpy(object).copy()
    for pos, text in zip(short, limits):
        if text:
            reason[pos] = f"{reason[pos]}; limited by {text}" if reason[pos] else f"limited by {text}"
    fill["reason"] = reason


def check_plan(instance: Instance, plan: Plan, what: str):
    """Verify a plan's feasibility from the tables alone; raise ``SolverError`` on any violation."""
    from allocator.verification.daily import verify

    ver = verify(instance, plan, optimality=False)
    if not ver.ok:
        raise SolverError(f"{what} failed verification:\n" + ver.errors().to_string(index=False))
    return ver
