"""Replay: a rolling horizon over history.

Each day, plan ``horizon`` days ahead with what is known that morning (the state:
stock, backlog, units on their way; and, with ``forecast="persistence"``, only that
day's demand), commit the first day, and carry its end state into the next. The
committed days make the time series: fill rates, shortfalls and stock by region and
priority.

The horizon must see today's shipments arrive: a shipment that leaves today and arrives
after the last day planned counts for nothing in that morning's plan, so it is never made,
and a region that only such routes reach gets nothing, day after day (with one day on the
bundled suit replay, 5-12 February, Hubei, the first priority, got 0% while the stock at the
sources grew from 153,951 to 631,237 suits). The default is therefore ``shortest_horizon``:
one day more than the longest transit time of a route or transfer; a shorter horizon is
planned as asked, with a warning.
"""

from __future__ import annotations

import time

import pandas as pd

from allocator.build.horizon import Calendar, initial_state
from allocator.errors import SolverError, UsageError
from allocator.inputs.instance import Instance
from allocator.pipeline.days import run_days
from allocator.plan.days import state_after
from allocator.plan.results import ReplayResult
from allocator.plan.tables import day_tier_table

__all__ = ["replay", "horizon_warning", "shortest_horizon"]


def shortest_horizon(instance: Instance) -> int:
    """The fewest days a morning's plan needs to see every shipment or transfer leaving that
    day arrive: 1 + the longest transit time in ``routes.csv`` and ``transfers.csv``."""
    longest = 0
    for table in (instance.routes, instance.transfers):
        if table is not None and "transit_days" in table and len(table):
            days = pd.to_numeric(table["transit_days"], errors="coerce").fillna(0)
            longest = max(longest, int(days.max()))
    return 1 + longest


def horizon_warning(instance: Instance, horizon: int) -> str | None:
    """What a horizon shorter than ``shortest_horizon`` leaves out, in words (None: nothing)."""
    need = shortest_horizon(instance)
    if horizon >= need:
        return None
    routes = instance.routes
    slow = (
        0
        if routes is None
        else int((pd.to_numeric(routes["transit_days"], errors="coerce").fillna(0) >= horizon).sum())
    )
    return (
        f"horizon {horizon} day(s): {slow:,} route(s) in routes.csv (and any transfer) taking {horizon} day(s) "
        f"or more arrive after the last day planned each morning, so nothing is ever sent on them, and a "
        f"region only they reach gets nothing; a horizon of {need} days sees every shipment arrive"
    )


def replay(
    instance: Instance,
    *,
    horizon: int | None = None,
    start: str | None = None,
    end: str | None = None,
    forecast: str = "perfect",
    equity: bool | None = None,
    progress=None,
    time_limit: float | None = None,
    memory_limit: float | None = None,
    check: bool = True,
) -> ReplayResult:
    """Roll a ``horizon``-day plan over the instance's days, committing one day at a time.
    ``horizon``: days planned each morning (default ``shortest_horizon(instance)``). Each
    morning is the one multi-day run (``pipeline.days.run_days``), its plan checked
    (``check``); ``time_limit`` is per morning's solve, ``memory_limit`` per morning's model."""
    t0 = time.perf_counter()
    if horizon is None:
        horizon = shortest_horizon(instance)
    if horizon < 1:
        raise UsageError(f"replay: horizon {horizon}: expected 1 day or more")
    warning = horizon_warning(instance, horizon)
    cal = Calendar(instance)
    if not cal.dated:
        raise UsageError("replay needs a dated instance (a 'day' column in supply.csv or demand.csv)")
    first = cal.first if start is None else cal.ordinal(start)
    last = cal.last if end is None else cal.ordinal(end)
    if last < first:
        raise UsageError(f"replay: end {cal.label(last)} is before start {cal.label(first)}")
    equity = instance.policy.equity if equity is None else equity
    state = initial_state(instance, cal, first)
    fills, ships, trs, stocks = [], [], [], []
    methods: dict[str, int] = {}
    stopped = 0  # mornings the time limit stopped
    solvers: list[str] = []
    lp_solves = 0
    weighted, cost = 0.0, 0.0
    for day in range(first, last + 1):
        h = min(horizon, last - day + 1)
        try:
            run = run_days(
                instance,
                day,
                h,
                state=state,
                made_from=first,
                forecast=forecast,
                calendar=cal,
                equity=equity,
                time_limit=time_limit,
                memory_limit=memory_limit,
                check=check,
            )
        except SolverError as exc:
            raise SolverError(f"replay, day {cal.label(day)}: {exc}") from None
        model, sol, dp = run.model, run.solution, run.plan
        methods[str(sol.method)] = methods.get(str(sol.method), 0) + 1
        if sol.status != "optimal":
            stopped += 1
        solvers.append(sol.solver)
        lp_solves += sol.lp_solves
        today = model.days[0]
        fills.append(dp.fill.loc[dp.fill["day"] == today])
        ships.append(dp.shipments.loc[dp.shipments["day"] == today])
        trs.append(dp.transfers.loc[dp.transfers["day"] == today])
        stocks.append(dp.stock.loc[dp.stock["day"] == today])
        f0 = fills[-1]
        weighted += float((f0["weight"] * f0["shortfall"]).sum())
        cost += float(ships[-1]["cost"].sum() + trs[-1]["cost"].sum())
        state = state_after(model, sol.x, dp, instance.policy.unmet == "backlog")
        if progress is not None:
            progress(today, sol)
    fill = pd.concat(fills, ignore_index=True)
    return ReplayResult(
        instance=instance,
        horizon=horizon,
        forecast=forecast,
        fill=fill,
        shipments=pd.concat(ships, ignore_index=True),
        transfers=pd.concat(trs, ignore_index=True),
        stock=pd.concat(stocks, ignore_index=True),
        by_day=day_tier_table(fill),
        weighted_shortfall=weighted,
        cost=cost,
        methods=methods,
        stopped=stopped,
        solver="+".join(dict.fromkeys(solvers)) or "highs",
        lp_solves=lp_solves,
        seconds=time.perf_counter() - t0,
        warnings=([warning] if warning else [])
        + (
            [f"the time limit stopped {stopped} morning(s) before the optimum: their plans are the best found"]
            if stopped
            else []
        ),
    )
