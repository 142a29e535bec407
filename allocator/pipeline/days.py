"""The multi-day pipeline: validate (done by ``load``) -> guard -> build (``build.horizon``) ->
solve (``engine.driver``, the one staged driver) -> plan (``plan.days``) -> verify
(``verification.days``).

``run_days`` is the one multi-day run: a window of days from a state (stock, backlog, units on
their way). ``plan(instance, horizon=H)`` is that run from the instance's first state;
``pipeline.replay`` is a loop over it, committing one day at a time.
"""

from __future__ import annotations

import logging
import time

from allocator.build.guard import check_size
from allocator.build.horizon import Calendar, State, build_horizon
from allocator.engine.driver import solve_staged
from allocator.errors import InstanceError, Issue, SolverError
from allocator.explain.days import day_reasons
from allocator.inputs.instance import Instance
from allocator.plan.days import day_plan
from allocator.plan.results import HorizonResult
from allocator.plan.tables import day_tier_table
from allocator.verification.days import check_days

__all__ = ["plan", "run_days"]

log = logging.getLogger("allocator.pipeline")


def run_days(
    instance: Instance,
    first: int,
    horizon: int,
    *,
    state: State | None = None,
    made_from: int | None = None,
    forecast: str = "perfect",
    calendar: Calendar | None = None,
    equity: bool | None = None,
    time_limit: float | None = None,
    memory_limit: float | None = None,
    check: bool = True,
) -> HorizonResult:
    """Plan ``horizon`` days from day ordinal ``first`` (``Calendar``) and return the plan day by day.

    ``state``: what the morning of ``first`` holds (default: the instance's own stock);
    ``made_from``: the first day whose output counts (a replay's start). ``time_limit``: seconds
    for the solve; the best plan found is returned with its status and bound (``engine.driver``).
    ``memory_limit``: bytes, as for one day (``build.guard``). ``check``: verify the plan's
    invariants from its tables (``verification.days``); a violation raises ``SolverError``.
    """
    t0 = time.perf_counter()
    cal = calendar or Calendar(instance)
    check_size(instance, memory_limit, days=horizon)
    model = build_horizon(instance, first, int(horizon), state, made_from=made_from, forecast=forecast, calendar=cal)
    t1 = time.perf_counter()
    sol = solve_staged(
        model, equity=instance.policy.equity if equity is None else equity, time_limit=time_limit, whole="proven"
    )
    t2 = time.perf_counter()
    dp = day_plan(model, sol.x)
    dp.fill["reason"] = day_reasons(instance, model, sol.x, dp.fill, equity=equity).to_numpy()
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
    log.info("days %s..%s: build %.3f s, solve %.3f s", model.days[0], model.days[-1], t1 - t0, t2 - t1)
    return result


def plan(
    instance: Instance,
    *,
    horizon: int | None = None,
    start: str | None = None,
    forecast: str = "perfect",
    equity: bool | None = None,
    check: bool = True,
    time_limit: float | None = None,
    memory_limit: float | None = None,
) -> HorizonResult:
    """Plan ``horizon`` days from ``start`` (default: the instance's first day, and every
    day to its last) and return the plan day by day."""
    cal = Calendar(instance)
    first = cal.first if start is None else cal.ordinal(start)
    if horizon is None:
        horizon = cal.last - first + 1
        if horizon < 1:
            msg = f"--start {cal.label(first)} is after the instance's last day {cal.label(cal.last)}: no day to plan"
            raise InstanceError([Issue("supply.csv", None, "day", msg)])
    return run_days(
        instance,
        first,
        int(horizon),
        forecast=forecast,
        calendar=cal,
        equity=equity,
        time_limit=time_limit,
        memory_limit=memory_limit,
        check=check,
    )
