"""The multi-day pipeline: validate (done by ``load``) -> build (``horizon``) -> solve
(``horizon_solve``) -> plan (``dayplan``) -> check (``check_days``).

``plan(instance, horizon=H)`` plans H days at once and returns the plan day by day.
"""

from __future__ import annotations

import time


from allocator.build.horizon import Calendar, build_horizon
from allocator.engine.horizon import solve_horizon
from allocator.errors import SolverError
from allocator.inputs.instance import Instance
from allocator.plan.days import day_plan
from allocator.plan.results import HorizonResult
from allocator.plan.tables import day_tier_table
from allocator.verification.days import check_days

__all__ = ["plan"]


def plan(
    instance: Instance,
    *,
    horizon: int | None = None,
    start: str | None = None,
    forecast: str = "perfect",
    equity: bool | None = None,
    check: bool = True,
) -> HorizonResult:
    """Plan ``horizon`` days from ``start`` (default: the instance's first day, and every
    day to its last) and return the plan day by day."""
    t0 = time.perf_counter()
    cal = Calendar(instance)
    first = cal.first if start is None else cal.ordinal(start)
    if horizon is None:
        horizon = max(cal.last - first + 1, 1)
    model = build_horizon(instance, first, int(horizon), forecast=forecast, calendar=cal)
    t1 = time.perf_counter()
    sol = solve_horizon(model, equity=instance.policy.equity if equity is None else equity)
    t2 = time.perf_counter()
    dp = day_plan(model, sol.x)
    result = HorizonResult(
        instance=instance,
        model=model,
        solution=sol,
        plan=dp,
        by_day=day_tier_table(dp.fill),
        timings={"build": t1 - t0, "solve": t2 - t1},
    )
    if check:
        problems = check_days(instance, result)
        if problems:
            msg = "the multi-day plan fails its own checks: " + "; ".join(problems[:5])
            raise SolverError(msg)
    result.timings["plan"] = time.perf_counter() - t2
    return result
