"""The multi-day pipeline: validate (done by ``load``) -> build (``horizon``) -> solve
(``horizon_solve``) -> plan (``dayplan``) -> check (``check_days``).

``plan(instance, horizon=H)`` plans H days at once and returns the plan day by day.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .dayplan import DayPlan, day_plan, state_after
from .errors import SolverError
from .horizon import Calendar, HorizonModel, State, build_horizon
from .horizon_solve import HorizonSolution, solve_horizon
from .instance import Instance
from .model import eligible_pairs
from .plan import tier_labels

__all__ = ["HorizonResult", "plan", "check_days", "day_tier_table"]


@dataclass
class HorizonResult:
    instance: Instance
    model: HorizonModel
    solution: HorizonSolution
    plan: DayPlan
    by_day: pd.DataFrame  # day x tier: demand, delivered, shortfall, fill_rate
    timings: dict = field(default_factory=dict)

    @property
    def days(self) -> list[str]:
        return self.model.days

    def end_state(self) -> State:
        """The state after the first day, as a replay commits it."""
        return state_after(self.model, self.solution.x, self.plan, self.instance.policy.unmet == "backlog")

    def summary(self) -> dict:
        fill = self.plan.fill
        due = float((fill["demand"] + fill["backlog_in"]).sum())
        sol = self.solution
        return {
            "instance": self.instance.name,
            "days": self.model.days,
            "policy": self.instance.policy.to_dict(),
            "method": sol.method,
            "objective": {
                "weighted_shortfall": _num(sol.weighted_shortfall),
                "lp_bound": _num(sol.lp_weighted_shortfall),
                "cost": _num(sol.route_cost),
            },
            "totals": {
                "demand": _num(fill["demand"].sum()),
                "delivered": _num(fill["delivered"].sum()),
                "fill_rate": round(float(fill["delivered"].sum()) / due, 6) if due > 0 else 1.0,
                "shipments": len(self.plan.shipments),
                "transfers": len(self.plan.transfers),
            },
            "lp_solves": sol.lp_solves,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }


def _num(v: float):
    v = float(v)
    return int(round(v)) if abs(v - round(v)) < 1e-9 else round(v, 6)


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


def day_tier_table(fill: pd.DataFrame) -> pd.DataFrame:
    """Per day and priority tier: demand, backlog in, delivered, shortfall and fill rate."""
    f = fill.assign(
        tier=tier_labels(fill["weight"]) if len(fill) else pd.Series(dtype=np.int64),
        due=fill["demand"] + fill["backlog_in"],
    )
    g = f.groupby(["day", "tier"])
    out = pd.DataFrame(
        {
            "weight": g["weight"].max(),
            "demand": g["demand"].sum(),
            "backlog_in": g["backlog_in"].sum(),
            "delivered": g["delivered"].sum(),
            "shortfall": g["shortfall"].sum(),
            "due": g["due"].sum(),
            "min_fill": g["fill_rate"].min(),
        }
    ).reset_index()
    out["fill_rate"] = np.where(out["due"] > 0, out["delivered"] / out["due"].where(out["due"] > 0, 1.0), 1.0)
    return out[["day", "tier", "weight", "demand", "backlog_in", "delivered", "shortfall", "fill_rate", "min_fill"]]


def check_days(instance: Instance, result: HorizonResult, tol: float = 1e-6) -> list[str]:
    """Every invariant of a multi-day plan, from its tables (not from the LP):

    - stock balance per holder, product and day: opening + arrived - sent - used - lost = closing,
      and each day's opening is the day before's closing (nothing appears or vanishes);
    - nothing sent that was not on hand; stock never negative;
    - nothing delivered beyond what is due (demand + backlog); durable units in service
      no more than on hand;
    - output made on day d is not at the source before d + its lead time (it is counted
      as arrived only on that day);
    - ICU-grade products serve only what the policy allows; whole units where countable.
    """
    dp, model = result.plan, result.model
    problems: list[str] = []
    st = dp.stock
    bal = st["opening"] + st["arrived"] - st["sent"] - st["used"] - st["lost"] - st["closing"]
    for pos in np.flatnonzero(np.abs(bal.to_numpy(float)) > tol * np.maximum(1.0, st["opening"].abs() + st["arrived"])):
        r = st.iloc[pos]
        problems.append(
            f"stock of {r['product']} at {r['holder']} {r['id']} on {r['day']} does not balance "
            f"(off by {bal.iloc[pos]:g})"
        )
    nums = ["opening", "arrived", "sent", "used", "lost", "closing", "in_service"]
    if (st[nums] < -tol).any().any():
        problems.append("a stock quantity is negative")
    order = {d: i for i, d in enumerate(model.days)}
    prev = st.assign(i=st["day"].map(order) + 1)[["holder", "id", "product", "i", "closing"]]
    nxt = st.assign(i=st["day"].map(order))[["holder", "id", "product", "i", "opening"]]
    joined = nxt.merge(prev, on=["holder", "id", "product", "i"], how="outer").fillna(0.0)
    joined = joined.loc[(joined["i"] > 0) & (joined["i"] < len(model.days))]
    if (np.abs(joined["opening"] - joined["closing"]) > tol).any():
        problems.append("a day's opening stock differs from the day before's closing stock")
    durable = st["in_service"] > st["closing"] + tol
    if durable.any():
        problems.append("more durable units in service than on hand")
    fill = dp.fill
    over = fill["delivered"] > fill["demand"] + fill["backlog_in"] + tol
    if over.any():
        r = fill.loc[over].iloc[0]
        problems.append(f"delivered beyond demand to {r['region']} ({r['family']}, {r['use']}) on {r['day']}")
    # ICU-grade only where allowed: every serve column with a delivery is an eligible pair.
    x = result.solution.x
    served = model.serve.assign(q=x[model.serve["col"].to_numpy(np.int64)] if len(model.serve) else 0.0)
    served = served.loc[served["q"] > tol]
    dem = model.demand.reset_index(drop=True)
    keys = dem[["region", "family", "use"]].drop_duplicates().reset_index(drop=True)
    ok_pairs = eligible_pairs(_keys_instance(instance, keys))
    ok = set(
        zip(
            keys.loc[ok_pairs["demand_idx"], "family"].to_numpy(object),
            keys.loc[ok_pairs["demand_idx"], "use"].to_numpy(object),
            ok_pairs["product"].to_numpy(object),
        )
    )
    for fam, use, prod in zip(
        dem["family"].to_numpy(object)[served["demand_idx"].to_numpy(np.int64)],
        dem["use"].to_numpy(object)[served["demand_idx"].to_numpy(np.int64)],
        served["product"].to_numpy(object),
    ):
        if (fam, use, prod) not in ok:
            problems.append(f"{prod} served {use} demand of {fam}, which the policy does not allow")
            break
    countable = model.countable_cols()
    if np.any(np.abs(x[countable] - np.round(x[countable])) > tol):
        problems.append("a countable item moves in fractional units")
    return problems


def _keys_instance(instance: Instance, keys: pd.DataFrame) -> Instance:
    from dataclasses import replace

    return replace(instance, demand=keys.assign(quantity=1.0))
