"""Plan: what a run returns, as labelled tables with their summary.

``Result`` is one day's plan (``pipeline.run.solve``), ``HorizonResult`` several days planned at
once (``pipeline.days.plan``), ``ReplayResult`` a rolling horizon's committed days
(``pipeline.replay.replay``). The report stage reads these; it never reaches back into the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from allocator.build.horizon import HorizonModel, State
from allocator.engine.types import StagedSolution
from allocator.inputs.instance import Instance
from allocator.numbers import json_number
from allocator.plan.daily import Plan
from allocator.plan.days import DayPlan, state_after
from allocator.plan.objective import EQUITY_ON, Objective
from allocator.plan.summary import tier_records
from allocator.plan.tables import equity_measure, tiers_over_days

__all__ = ["HorizonResult", "ReplayResult", "Result"]


@dataclass
class Result:
    """An optimal dispatch plan and what a planner needs to read it."""

    instance: Instance
    plan: Plan
    status: str
    objective: Objective  # a mapping with summary.json's objective keys
    fair_fill: np.ndarray
    by_tier: pd.DataFrame
    by_region: pd.DataFrame
    solver: str
    lp_solves: int
    timings: dict = field(default_factory=dict)
    method: str = "lp"  # how whole units were reached (engine.types.Method)
    fair_box: tuple | None = None  # (least, most) delivery per demand row that counts as fair, with equity
    stability: pd.DataFrame | None = None  # with a previous plan: per (source, region) pair, before, now, change
    marginal: pd.DataFrame | None = None  # what one more unit is worth, per region and source (``why``)
    accounts: pd.DataFrame | None = None  # where each source's output went and why not elsewhere (``why``)

    @property
    def dispatch(self) -> pd.DataFrame:
        return self.plan.dispatch

    @property
    def fill(self) -> pd.DataFrame:
        return self.plan.fill

    def summary(self) -> dict:
        inst = self.instance
        fill = self.plan.fill
        return {
            "kind": "day",
            "instance": inst.name,
            "days": [],
            "status": str(self.status),
            "method": str(self.method),
            "solver": self.solver,
            "lp_solves": self.lp_solves,
            "policy": inst.policy.to_dict(),
            "objective": dict(self.objective),
            "totals": {
                "supply": json_number(inst.supply["quantity"].sum()),
                "demand": json_number(fill["demand"].sum()),
                "delivered": json_number(fill["delivered"].sum()),
                "shortfall": json_number(fill["shortfall"].sum()),
                "fill_rate": round(float(fill["delivered"].sum() / fill["demand"].sum()), 6)
                if fill["demand"].sum() > 0
                else 1.0,
                "shipments": len(self.plan.dispatch),
            },
            "by_tier": tier_records(self.by_tier),
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }


@dataclass
class HorizonResult:
    instance: Instance
    model: HorizonModel
    solution: StagedSolution
    plan: DayPlan
    by_day: pd.DataFrame  # day x tier: demand, delivered, shortfall, fill_rate
    timings: dict = field(default_factory=dict)

    @property
    def days(self) -> list[str]:
        return self.model.days

    @property
    def objective(self) -> Objective:
        """The plan's objective, with the proven bound and gap (always shown for several days)."""
        return Objective.of(self.solution, self.instance.policy.equity, show_bound=True)

    def end_state(self) -> State:
        """The state after the first day, as a replay commits it."""
        return state_after(self.model, self.solution.x, self.plan, self.instance.policy.unmet == "backlog")

    def summary(self) -> dict:
        fill = self.plan.fill
        due = float((fill["demand"] + fill["backlog_in"]).sum())
        sol = self.solution
        pol = self.instance.policy
        objective = dict(self.objective)
        return {
            "kind": "plan",
            "instance": self.instance.name,
            "days": self.model.days,
            "status": str(sol.status),
            "method": str(sol.method),
            "solver": sol.solver,
            "lp_solves": sol.lp_solves,
            "policy": pol.to_dict(),
            "objective": objective,
            "totals": {
                "demand": json_number(fill["demand"].sum()),
                "delivered": json_number(fill["delivered"].sum()),
                "shortfall": json_number(fill["shortfall"].sum()),
                "fill_rate": round(float(fill["delivered"].sum()) / due, 6) if due > 0 else 1.0,
                "shipments": len(self.plan.shipments),
                "transfers": len(self.plan.transfers),
            },
            "by_tier": tier_records(tiers_over_days(self.by_day)),
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }


@dataclass
class ReplayResult:
    instance: Instance
    horizon: int
    forecast: str
    fill: pd.DataFrame  # committed days: day, region, family, use, weight, demand, backlog_in, delivered, ...
    shipments: pd.DataFrame  # committed shipments (day, arrives, source, region, product, quantity, cost)
    transfers: pd.DataFrame
    stock: pd.DataFrame  # committed days' stock table
    by_day: pd.DataFrame  # day x tier
    weighted_shortfall: float  # of the committed days, at the days' own weights (no time preference)
    cost: float
    methods: dict[str, int] = field(default_factory=dict)  # "lp" / "mip": days solved each way
    stopped: int = 0  # mornings the time limit stopped
    solver: str = "highs"
    lp_solves: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def objective(self) -> Objective:
        """The committed days' objective at their own weights, with Jain's index of fill rates."""
        pol = self.instance.policy
        return Objective(
            self.weighted_shortfall,
            self.cost,
            EQUITY_ON if pol.equity else "off",
            extra={"jain_index": round(equity_measure(self.fill), 6)},
        )

    def region_series(self) -> pd.DataFrame:
        """Per day and region: demand, delivered, shortfall, fill rate, stock at the end of the day."""
        f = self.fill.assign(due=self.fill["demand"] + self.fill["backlog_in"])
        g = f.groupby(["day", "region"], as_index=False)[
            ["demand", "backlog_in", "due", "delivered", "shortfall"]
        ].sum()
        g["fill_rate"] = np.where(g["due"] > 0, g["delivered"] / g["due"].where(g["due"] > 0, 1.0), 1.0)
        st = (
            self.stock.loc[self.stock["holder"] == "region"]
            .groupby(["day", "id"], as_index=False)[["closing", "in_service"]]
            .sum()
            .rename(columns={"id": "region", "closing": "stock"})
        )
        out = g.merge(st, on=["day", "region"], how="left").fillna({"stock": 0.0, "in_service": 0.0})
        return out[
            ["day", "region", "demand", "backlog_in", "delivered", "shortfall", "fill_rate", "stock", "in_service"]
        ]

    def summary(self) -> dict:
        f = self.fill
        due = float((f["demand"] + f["backlog_in"]).sum())
        escalation = [m for m in ("greedy", "rounded", "mip", "lp") if self.methods.get(m)]
        days = sorted(str(d) for d in f["day"].unique()) if len(f) else []
        return {
            "kind": "replay",
            "instance": self.instance.name,
            "days": days,
            "status": "time_limit" if self.stopped else "optimal",
            "method": escalation[0] if escalation else "lp",
            "solver": self.solver,
            "lp_solves": self.lp_solves,
            "policy": self.instance.policy.to_dict(),
            "objective": dict(self.objective),
            "totals": {
                "demand": json_number(f["demand"].sum()),
                "delivered": json_number(f["delivered"].sum()),
                "shortfall": json_number(f["shortfall"].sum()),
                "fill_rate": round(float(f["delivered"].sum()) / due, 6) if due > 0 else 1.0,
                "shipments": len(self.shipments),
                "transfers": len(self.transfers),
            },
            "by_tier": tier_records(tiers_over_days(self.by_day)),
            "horizon": self.horizon,
            "forecast": self.forecast,
            "methods": self.methods,
            "timings_s": {"total": round(self.seconds, 3)},
        }
